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

describe('postgresql connection pool', () => {
  async function backendsServing(poolMax: number | undefined, queries: number): Promise<number> {
    const ds = await openDatabase({
      url,
      dataDir: '',
      schema: `${schema}_pool`,
      entities: contractEntities,
      migrations: contractMigrations,
      poolMax,
    });
    try {
      const rows = await Promise.all(
        Array.from({ length: queries }, () =>
          ds.query<{ pid: number }[]>('SELECT pg_backend_pid() AS pid, pg_sleep(0.05)'),
        ),
      );
      return new Set(rows.map((r) => r[0]!.pid)).size;
    } finally {
      await ds.query(`DROP SCHEMA "${schema}_pool" CASCADE`);
      await ds.destroy();
    }
  }

  it('holds at most poolMax connections, however many queries wait', async () => {
    expect(await backendsServing(2, 6)).toBe(2);
  });

  it('opens up to ten by default', async () => {
    expect(await backendsServing(undefined, 6)).toBe(6);
  });
});
