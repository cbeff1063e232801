import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { contractEntities, contractMigrations, databaseContract, openDatabase } from './db.contract';

const dir = mkdtempSync(join(tmpdir(), 'strato-db-'));

databaseContract(
  'sqlite file under the data directory',
  () =>
    openDatabase({
      url: undefined,
      dataDir: dir,
      schema: 'notes',
      entities: contractEntities,
      migrations: contractMigrations,
    }),
  async (ds) => {
    await ds.destroy();
    rmSync(dir, { recursive: true, force: true });
  },
);
