/** The scheduler's store: entities, migrations and the placement repository. */
import type { MigrationInterface } from '@strato/db';
import { PlacementInitial1761000000000 } from './migrations/1761000000000-placement-initial';

export * from './entities';
export * from './placement.repository';

export const schedulerMigrations: (new () => MigrationInterface)[] = [PlacementInitial1761000000000];
