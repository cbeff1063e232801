/** The scheduler's store: entities, migrations and the placement repository. */
import type { MigrationInterface } from '@strato/db';
import { PlacementInitial1761000000000 } from './migrations/1761000000000-placement-initial';
import { ProviderForcedDown1765000000000 } from './migrations/1765000000000-provider-forced-down';

export * from './entities';
export * from './placement.repository';

export const schedulerMigrations: (new () => MigrationInterface)[] = [
  PlacementInitial1761000000000,
  ProviderForcedDown1765000000000,
];
