/** End to end over the in-memory bus (the all-in-one's wiring), agents on libvirt test:///default. */
import { endToEndScenarios } from './end-to-end.scenarios';

endToEndScenarios('in-memory bus');
