import { randomBytes } from 'node:crypto';
import { contractEntities, contractMigrations, databaseContract, openDatabase } from '../src/db.contract';

const url = process.env.DATABASE_TEST_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `t_${randomBytes(6).toString('hex')}`;

databaseContract(
  'postgresql, in the service schema',
  () =>
    openDatabase({
      url,
      dataDir: '',
      schema,
      entities: contractEntities,
      migrations: contractMigrations,
    }),
  async (ds) => {
    const tables = await ds.query<{ table_name: string }[]>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = $1`,
      [schema],
    );
    expect(tables.map((t) => t.table_name).sort()).toEqual(['items', 'migrations', 'notes']);
    await ds.query(`DROP SCHEMA "${schema}" CASCADE`);
    await ds.destroy();
  },
);
