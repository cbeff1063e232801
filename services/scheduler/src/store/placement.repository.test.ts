import { openDatabase } from '@strato/db';
import { placementRepositoryContract } from './placement.repository.contract';
import { schedulerEntities, schedulerMigrations } from './index';

placementRepositoryContract(
  'SQLite',
  () =>
    openDatabase({
      url: 'sqlite::memory:',
      dataDir: '/tmp',
      schema: 'scheduler',
      entities: schedulerEntities,
      migrations: schedulerMigrations,
    }),
  (ds) => ds.destroy(),
);
