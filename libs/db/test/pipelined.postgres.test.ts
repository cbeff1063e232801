/**
 * pipelinedTransaction on PostgreSQL: two round trips that commit together, roll back
 * together, and never hand the pool a connection left inside a transaction.
 */
import { randomBytes } from 'node:crypto';
import {
  oneTripTransaction,
  openDatabase,
  pipelinedTransaction,
  preparedStatement,
  type DataSource,
} from '../src';

const url = process.env.DATABASE_TEST_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `t_${randomBytes(6).toString('hex')}`;

describe('pipelinedTransaction (PostgreSQL)', () => {
  let ds: DataSource;
  const names = async () =>
    (await ds.query<{ name: string }[]>('SELECT name FROM items ORDER BY id')).map((r) => r.name);

  beforeAll(async () => {
    ds = await openDatabase({ url, dataDir: '', schema, entities: [], migrations: [] });
    await ds.query(`CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL UNIQUE)`);
  });
  afterAll(async () => {
    await ds.query(`DROP SCHEMA "${schema}" CASCADE`);
    await ds.destroy();
  });
  beforeEach(() => ds.query('TRUNCATE items'));

  it('reads in the first trip, decides, and writes with COMMIT in the second', async () => {
    await ds.query(`INSERT INTO items (name) VALUES ('a')`);
    const count = await pipelinedTransaction(
      ds,
      (inline) => [inline('SELECT pg_advisory_xact_lock($1)', [42]), 'SELECT COUNT(*) AS n FROM items'],
      async ([, counted], conn) => {
        const n = Number(counted![0]!.n);
        const insert = conn.inline('INSERT INTO items (name) VALUES ($1), ($2)', [`b${n}`, "it's"]);
        return { value: n, closing: [insert] };
      },
    );
    expect(count).toBe(1);
    expect(await names()).toEqual(['a', 'b1', "it's"]);
  });

  it('stores every inlined string exactly as given, quotes and backslashes included', async () => {
    const hostile = [
      "it's",
      'back\\slash',
      "\\'; DROP TABLE items; --",
      "E'x'",
      '$1 $$ $tag$',
      '{"k":"v\\"\'"}',
      'üñï€😀',
      "''\\\\''",
    ];
    await oneTripTransaction(ds, (inline) =>
      hostile.map((name) => inline('INSERT INTO items (name) VALUES ($1)', [name])),
    );
    expect(await names()).toEqual(hostile);
  });

  it('rolls back both trips when the second fails, and the pool stays usable', async () => {
    await ds.query(`INSERT INTO items (name) VALUES ('taken')`);
    await expect(
      pipelinedTransaction(
        ds,
        () => [`INSERT INTO items (name) VALUES ('first-trip')`],
        async (_rows, conn) => ({
          value: null,
          closing: [conn.inline('INSERT INTO items (name) VALUES ($1)', ['taken'])], // unique violation
        }),
      ),
    ).rejects.toThrow(/duplicate key/);
    expect(await names()).toEqual(['taken']);
    // Every pooled connection still answers outside any transaction.
    const states = await Promise.all(
      Array.from({ length: 12 }, () =>
        ds.query<{ xact: boolean }[]>('SELECT now() = statement_timestamp() AS xact'),
      ),
    );
    expect(states.every((s) => s[0]!.xact)).toBe(true);
  });

  it('rolls back when the decision in between throws', async () => {
    await expect(
      pipelinedTransaction(
        ds,
        () => [`INSERT INTO items (name) VALUES ('x')`],
        async () => {
          throw new Error('refused');
        },
      ),
    ).rejects.toThrow('refused');
    expect(await names()).toEqual([]);
  });

  it('runs a whole transaction in one trip, or none of it when a statement fails', async () => {
    const rows = await oneTripTransaction(ds, (inline) => [
      inline('INSERT INTO items (name) VALUES ($1), ($2)', ['one', "it's"]),
      'SELECT COUNT(*) AS n FROM items',
    ]);
    expect(Number(rows[1]![0]!.n)).toBe(2);
    expect(await names()).toEqual(['one', "it's"]);
    // A guard after the writes: it fails (division by zero when more than 2 rows), so nothing of this lot stays.
    await expect(
      oneTripTransaction(ds, () => [
        `INSERT INTO items (name) VALUES ('three')`,
        'SELECT 1 / (CASE WHEN COUNT(*) > 2 THEN 0 ELSE 1 END) FROM items',
      ]),
    ).rejects.toThrow(/division by zero/);
    expect(await names()).toEqual(['one', "it's"]);
    const states = await Promise.all(
      Array.from({ length: 12 }, () =>
        ds.query<{ xact: boolean }[]>('SELECT now() = statement_timestamp() AS xact'),
      ),
    );
    expect(states.every((s) => s[0]!.xact)).toBe(true);
  });

  describe('prepared statements', () => {
    const insert = preparedStatement(
      'test_items_insert',
      ['text'],
      'INSERT INTO items (name) VALUES ($1) RETURNING id',
    );
    const preparedHere = `SELECT COUNT(*) AS n, SUM(custom_plans) AS custom, SUM(generic_plans) AS generic
                            FROM pg_prepared_statements WHERE name = 'test_items_insert'`;

    it('runs by name with its values inlined, prepared once per connection', async () => {
      // Concurrent trips take several pooled connections; each prepares before its first EXECUTE.
      const trips = await Promise.all(
        ["it's", 'back\\slash', 'c', 'd', 'e', 'f'].map((name) =>
          oneTripTransaction(ds, (_, execute) => [execute(insert, [name]), preparedHere]),
        ),
      );
      for (const rows of trips) {
        // Prepared once on this connection, and run with its generic plan from the first time.
        expect(rows[1]![0]).toMatchObject({ n: '1', custom: '0' });
        expect(Number(rows[1]![0]!.generic)).toBeGreaterThanOrEqual(1);
      }
      // A connection that prepared it already runs it again without a second PREPARE (which would fail).
      for (let i = 0; i < 12; i++) {
        await oneTripTransaction(ds, (_, execute) => [execute(insert, [`again-${i}`])]);
      }
      expect((await names()).length).toBe(18);
      expect(await names()).toEqual(expect.arrayContaining(["it's", 'back\\slash']));
    });

    it('stays prepared after a trip that rolled back', async () => {
      await ds.query(`INSERT INTO items (name) VALUES ('taken')`);
      const attempts = await Promise.allSettled(
        Array.from({ length: 6 }, () => oneTripTransaction(ds, (_, execute) => [execute(insert, ['taken'])])),
      );
      expect(attempts.every((a) => a.status === 'rejected' && /duplicate key/.test(String(a.reason)))).toBe(
        true,
      );
      await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          oneTripTransaction(ds, (_, execute) => [execute(insert, [`n${i}`])]),
        ),
      );
      expect((await names()).length).toBe(7);
    });

    it('runs in the closing trip of a pipelined transaction', async () => {
      const id = await pipelinedTransaction(
        ds,
        () => ['SELECT 1'],
        async (_rows, conn) => ({ value: null, closing: [conn.execute(insert, ['closing'])] }),
      );
      expect(id).toBeNull();
      expect(await names()).toEqual(['closing']);
    });

    it('prepares afresh on a connection that lost its statement', async () => {
      await oneTripTransaction(ds, (_, execute) => [execute(insert, ['first'])]);
      // pg's pool hands the most recently released connection out next: the same one each time here.
      await oneTripTransaction(ds, () => ['DEALLOCATE test_items_insert']);
      await expect(oneTripTransaction(ds, (_, execute) => [execute(insert, ['lost'])])).rejects.toThrow(
        /does not exist/,
      );
      await oneTripTransaction(ds, (_, execute) => [execute(insert, ['again'])]);
      expect(await names()).toEqual(['first', 'again']);
    });

    it('refuses a wrong number of values, and a name taken by other SQL', async () => {
      await expect(oneTripTransaction(ds, (_, execute) => [execute(insert, ['a', 'b'])])).rejects.toThrow(
        /takes 1 values, not 2/,
      );
      expect(() => preparedStatement('test_items_insert', ['text'], 'SELECT $1')).toThrow(/already/);
      expect(() => preparedStatement('bad name', [], 'SELECT 1')).toThrow(/not a plain statement name/);
    });
  });
});
