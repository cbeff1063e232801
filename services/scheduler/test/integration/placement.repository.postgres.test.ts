/**
 * The placement store's suite on PostgreSQL, where claims outside server groups take one
 * round trip (BEGIN, both row locks, a deciding statement that writes only when the claim
 * fits, COMMIT). Each test gets its own schema.
 */
import { randomBytes } from 'node:crypto';
import { openDatabase } from '@strato/db';
import { placementRepositoryContract } from '../../src/store/placement.repository.contract';
import { schedulerEntities, schedulerMigrations } from '../../src/store';

const URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

placementRepositoryContract(
  'PostgreSQL',
  () =>
    openDatabase({
      url: URL,
      dataDir: '/tmp',
      schema: `placement_${randomBytes(4).toString('hex')}`,
      entities: schedulerEntities,
      migrations: schedulerMigrations,
    }),
  async (ds) => {
    await ds.query(`DROP SCHEMA "${String(ds.driver.schema)}" CASCADE`);
    await ds.destroy();
  },
);
