/**
 * Database access: a typeorm DataSource for PostgreSQL (pg) or SQLite (better-sqlite3).
 * Each service owns its own schema: a PostgreSQL schema named after it, or its own SQLite
 * file under the data directory. Tables come only from explicit migrations, run at start;
 * `synchronize` exists for tests alone.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DataSource, type EntityManager, type EntitySchema, type MigrationInterface } from 'typeorm';

export { DataSource, EntitySchema, Table, TableIndex, TableForeignKey } from 'typeorm';
export type { EntityManager, EntityMetadata, MigrationInterface, QueryRunner, Repository } from 'typeorm';

export interface DatabaseOptions {
  /** postgres://… or sqlite:<path>; unset means SQLite under dataDir. */
  url: string | undefined;
  dataDir: string;
  /** The owning service: its PostgreSQL schema, or its SQLite file name. */
  schema: string;
  entities: EntitySchema[];
  migrations: (new () => MigrationInterface)[];
  /** Most PostgreSQL connections held at once; 10 when unset. */
  poolMax?: number | undefined;
}

export function isPostgresUrl(url: string | undefined): url is string {
  return !!url && /^postgres(ql)?:\/\//.test(url);
}

function sqlitePath(opts: DatabaseOptions): string {
  if (opts.url?.startsWith('sqlite:')) return opts.url.slice('sqlite:'.length);
  mkdirSync(opts.dataDir, { recursive: true });
  return join(opts.dataDir, `${opts.schema}.sqlite`);
}

export function createDataSource(opts: DatabaseOptions): DataSource {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(opts.schema)) throw new Error(`invalid schema name: ${opts.schema}`);
  const common = {
    entities: opts.entities,
    migrations: opts.migrations,
    migrationsRun: false,
    synchronize: false,
    logging: false,
  } as const;
  if (isPostgresUrl(opts.url)) {
    return new DataSource({
      ...common,
      type: 'postgres',
      url: opts.url,
      schema: opts.schema,
      // Raw SQL sees the service's own schema first, like the entities do.
      extra: {
        max: opts.poolMax ?? 10,
        connectionTimeoutMillis: 5000,
        options: `-c search_path="${opts.schema}",public`,
      },
    });
  }
  const database = sqlitePath(opts);
  return new DataSource({
    ...common,
    type: 'better-sqlite3',
    database,
    enableWAL: database !== ':memory:',
    prepareDatabase: (db: { pragma(sql: string): unknown }) => {
      db.pragma('busy_timeout = 5000');
      db.pragma('foreign_keys = ON');
      db.pragma('synchronous = NORMAL');
    },
  });
}

/** Connects, creates the service's schema if needed and applies pending migrations. */
export async function openDatabase(opts: DatabaseOptions): Promise<DataSource> {
  const ds = createDataSource(opts);
  await ds.initialize();
  try {
    if (ds.options.type === 'postgres') {
      await ds.query(`CREATE SCHEMA IF NOT EXISTS "${opts.schema.replace(/"/g, '""')}"`);
    }
    await ds.runMigrations({ transaction: 'each' });
  } catch (err) {
    await ds.destroy();
    throw err;
  }
  return ds;
}

/** Throws when the database cannot answer (used by /readyz). */
export async function pingDatabase(ds: DataSource): Promise<void> {
  await ds.query('SELECT 1');
}

const sqliteQueues = new WeakMap<DataSource, Promise<unknown>>();

/**
 * Runs fn in a transaction. SQLite has one connection, so its transactions are queued one
 * after another; PostgreSQL runs them concurrently on the pool.
 */
export function inTransaction<T>(ds: DataSource, fn: (em: EntityManager) => Promise<T>): Promise<T> {
  if (ds.options.type === 'postgres') return ds.transaction(fn);
  const previous = sqliteQueues.get(ds) ?? Promise.resolve();
  const run = previous.then(
    () => ds.transaction(fn),
    () => ds.transaction(fn),
  );
  sqliteQueues.set(
    ds,
    run.catch(() => undefined),
  );
  return run;
}

export {
  deleteStatement,
  insertStatement,
  propertyRow,
  rowMapper,
  selectProperties,
  updateStatement,
} from './statements';
export {
  inlineParameters,
  oneTripTransaction,
  pipelinedTransaction,
  preparedStatement,
  type PipelinedConnection,
  type PreparedStatement,
  type Row,
} from './pipelined';
