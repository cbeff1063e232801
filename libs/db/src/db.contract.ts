/** One behaviour suite for both database engines. */
import {
  EntitySchema,
  deleteStatement,
  insertStatement,
  propertyRow,
  rowMapper,
  selectProperties,
  updateStatement,
  Table,
  inTransaction,
  openDatabase,
  type DataSource,
  type MigrationInterface,
  type QueryRunner,
} from './index';

interface Note {
  id: number;
  body: string;
}

export const noteEntity = new EntitySchema<Note>({
  name: 'Note',
  tableName: 'notes',
  columns: { id: { type: Number, primary: true }, body: { type: String } },
});

interface Item {
  seq: number;
  name: string;
  tags: string[];
  meta: Record<string, string> | null;
  done: boolean;
  size: number;
}

/** A table with a generated key, JSON, booleans and NULLs, for insertStatement. */
export const itemEntity = new EntitySchema<Item>({
  name: 'Item',
  tableName: 'items',
  columns: {
    seq: { type: 'integer', primary: true, generated: 'increment' },
    name: { type: 'varchar', length: 255 },
    tags: { type: 'simple-json' },
    meta: { type: 'simple-json', nullable: true },
    done: { type: 'boolean' },
    size: { type: 'integer' },
  },
});

export class CreateNotes1700000000000 implements MigrationInterface {
  name = 'CreateNotes1700000000000';
  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'notes',
        columns: [
          { name: 'id', type: 'integer', isPrimary: true },
          { name: 'body', type: 'varchar', length: '255' },
        ],
      }),
    );
  }
  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('notes');
  }
}

export class CreateItems1700000000001 implements MigrationInterface {
  name = 'CreateItems1700000000001';
  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'items',
        columns: [
          {
            name: 'seq',
            type: 'integer',
            isPrimary: true,
            isGenerated: true,
            generationStrategy: 'increment',
          },
          { name: 'name', type: 'varchar', length: '255' },
          { name: 'tags', type: 'text' },
          { name: 'meta', type: 'text', isNullable: true },
          { name: 'done', type: 'boolean' },
          { name: 'size', type: 'integer' },
        ],
      }),
    );
  }
  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('items');
  }
}

export const contractEntities = [noteEntity, itemEntity];
export const contractMigrations = [CreateNotes1700000000000, CreateItems1700000000001];

export function databaseContract(
  name: string,
  open: () => Promise<DataSource>,
  cleanup: (ds: DataSource) => Promise<void>,
) {
  describe(`database: ${name}`, () => {
    let ds: DataSource;
    beforeAll(async () => {
      ds = await open();
    });
    afterAll(async () => {
      await cleanup(ds);
    });

    it('creates tables from explicit migrations only', async () => {
      expect(ds.options.synchronize).toBe(false);
      const applied = await ds.query<{ name: string }[]>('SELECT name FROM migrations');
      expect(applied.map((m) => m.name)).toEqual(['CreateNotes1700000000000', 'CreateItems1700000000001']);
    });

    it('commits a transaction as a whole or not at all', async () => {
      await inTransaction(ds, async (em) => {
        await em.insert(noteEntity, { id: 1, body: 'kept' });
      });
      await expect(
        inTransaction(ds, async (em) => {
          await em.insert(noteEntity, { id: 2, body: 'lost' });
          throw new Error('abort');
        }),
      ).rejects.toThrow('abort');
      const rows = await ds.getRepository(noteEntity).find({ order: { id: 'ASC' } });
      expect(rows).toEqual([{ id: 1, body: 'kept' }]);
    });

    it('runs many concurrent transactions without losing one', async () => {
      await Promise.all(
        Array.from({ length: 25 }, (_, i) =>
          inTransaction(ds, async (em) => {
            await em.insert(noteEntity, { id: 100 + i, body: `n${i}` });
          }),
        ),
      );
      expect(await ds.getRepository(noteEntity).count()).toBe(26);
    });

    it('writes many rows in one INSERT that typeorm reads back as they were written', async () => {
      const rows = [
        { name: "it's; DROP TABLE items; --", tags: ['a', '"b"'], meta: { k: "v'" }, done: true, size: 3 },
        { name: 'second', tags: [], meta: null, done: false, size: -1 },
      ];
      const [sql, params] = insertStatement(ds, itemEntity, rows);
      expect(sql).not.toContain('DROP TABLE items'); // values travel as parameters
      await ds.query(sql, params);
      const read = await ds.getRepository(itemEntity).find({ order: { seq: 'ASC' } });
      expect(read.map(({ seq: _seq, ...rest }) => rest)).toEqual(rows);
      expect(read[1]!.seq).toBeGreaterThan(read[0]!.seq);
      expect(() => insertStatement(ds, itemEntity, [{ name: 'x', tags: [], done: true, size: 1 }])).toThrow(
        'no value for',
      );
    });

    it('stores a JSON column as the very text typeorm would have written', async () => {
      const rows = [
        {
          name: 'raw-json',
          tags: ['back\\slash', 'quote"d', "apo'strophe", 'new\nline', 'ünï €', '</domain>'],
          meta: { 'a"b': 'c\\d', nested: '{"not":"parsed"}' },
          done: false,
          size: 2 ** 31 - 1,
        },
      ];
      const [sql, params] = insertStatement(ds, itemEntity, rows);
      await ds.query(sql, params);
      const [raw] = await ds.query<{ tags: string; meta: string }[]>(
        `SELECT tags, meta FROM items WHERE name = 'raw-json'`,
      );
      expect(raw).toEqual({ tags: JSON.stringify(rows[0]!.tags), meta: JSON.stringify(rows[0]!.meta) });
      const [read] = await ds.getRepository(itemEntity).find({ where: { name: 'raw-json' } });
      expect(read).toMatchObject(rows[0]!);
    });

    it('updates by key and maps raw rows as typeorm hydrates them', async () => {
      const [insert, values] = insertStatement(ds, itemEntity, [
        { name: 'u1', tags: ['x'], meta: null, done: false, size: 1 },
        { name: 'u2', tags: [], meta: { a: 'b' }, done: true, size: 2 },
      ]);
      await ds.query(insert, values);
      const [first] = await ds.getRepository(itemEntity).find({ where: { name: 'u1' } });
      const [sql, params] = updateStatement(
        ds,
        itemEntity,
        { meta: { "o'k": '1' }, done: true, size: undefined },
        'seq',
        first!.seq,
      );
      expect(sql).not.toContain('size'); // undefined: not changed
      await ds.query(sql, params);
      expect(() => updateStatement(ds, itemEntity, { nope: 1 } as never, 'seq', 1)).toThrow(
        'no property nope',
      );
      const map = rowMapper(ds, itemEntity);
      const raw = await ds.query<Record<string, unknown>[]>(
        `SELECT * FROM items WHERE name IN ('u1', 'u2') ORDER BY seq`,
      );
      const hydrated = await ds
        .getRepository(itemEntity)
        .find({ where: [{ name: 'u1' }, { name: 'u2' }], order: { seq: 'ASC' } });
      expect(raw.map(map)).toEqual(hydrated);
      expect(hydrated[0]).toMatchObject({ meta: { "o'k": '1' }, done: true, size: 1 });
    });

    it('selects rows under their property names and finishes them as typeorm hydrates them', async () => {
      const rows = [
        { name: 'p1', tags: ['x', '"y"'], meta: null, done: false, size: 0 },
        { name: 'p2', tags: [], meta: { "o'k": '1' }, done: true, size: -7 },
      ];
      const [insert, values] = insertStatement(ds, itemEntity, rows);
      await ds.query(insert, values);
      const qb = selectProperties(
        ds.getRepository(itemEntity).createQueryBuilder('it'),
        ds,
        itemEntity,
        'it',
      );
      const raw = await qb
        .where('it.name IN (:...names)', { names: ['p1', 'p2'] })
        .orderBy('it.seq', 'ASC')
        .getRawMany<Record<string, unknown>>();
      expect(Object.keys(raw[0]!).sort()).toEqual(['done', 'meta', 'name', 'seq', 'size', 'tags']);
      const hydrated = await ds
        .getRepository(itemEntity)
        .find({ where: [{ name: 'p1' }, { name: 'p2' }], order: { seq: 'ASC' } });
      const finish = propertyRow(ds, itemEntity);
      const finished = raw.map((r) => finish(r));
      expect(finished).toEqual(hydrated);
      // In place: the row handed in is the row handed back.
      expect(finished[1]).toBe(raw[1]);
      expect(finished.map(({ seq: _seq, ...rest }) => rest)).toEqual(rows);
    });

    it('deletes by a list of keys, and nothing else', async () => {
      const [insert, values] = insertStatement(ds, itemEntity, [
        { name: 'd1', tags: [], meta: null, done: false, size: 1 },
        { name: 'd2', tags: [], meta: null, done: false, size: 2 },
        { name: 'd3', tags: [], meta: null, done: false, size: 3 },
      ]);
      await ds.query(insert, values);
      const rows = await ds.getRepository(itemEntity).find({ where: [{ name: 'd1' }, { name: 'd3' }] });
      const [sql, params] = deleteStatement(
        ds,
        itemEntity,
        'seq',
        rows.map((r) => r.seq),
      );
      await ds.query(sql, params);
      const left = await ds
        .getRepository(itemEntity)
        .find({ where: [{ name: 'd1' }, { name: 'd2' }, { name: 'd3' }] });
      expect(left.map((r) => r.name)).toEqual(['d2']);
      expect(() => deleteStatement(ds, itemEntity, 'seq', [])).toThrow('at least one value');
      expect(() => deleteStatement(ds, itemEntity, 'nope' as never, [1])).toThrow('no property nope');
    });

    it('does not re-run applied migrations when opened again', async () => {
      expect(await ds.showMigrations()).toBe(false);
    });
  });
}

export { openDatabase };
