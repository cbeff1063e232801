/** One behaviour suite for both database engines. */
import {
  EntitySchema,
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
      expect(applied.map((m) => m.name)).toEqual(['CreateNotes1700000000000']);
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

    it('does not re-run applied migrations when opened again', async () => {
      expect(await ds.showMigrations()).toBe(false);
    });
  });
}

export { openDatabase };
