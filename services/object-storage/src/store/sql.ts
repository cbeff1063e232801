/**
 * A thin SQL executor over the DataSource typeorm opened, for the hot path: prepared
 * statements straight on better-sqlite3, the pg pool through typeorm query runners. SQL is
 * written once with `?` placeholders and table names as {table}; PostgreSQL gets $n and the
 * schema-qualified name.
 */
import { open, type FileHandle } from 'node:fs/promises';
import type { DataSource, QueryRunner } from '@strato/db';

export type Row = Record<string, unknown>;
export type Param = string | number | null;

export interface SqlExecutor {
  readonly dialect: 'sqlite' | 'postgres';
  all(sql: string, params?: readonly Param[]): Promise<Row[]>;
  /** Runs a statement; resolves with the number of rows changed. */
  run(sql: string, params?: readonly Param[]): Promise<number>;
}

export interface SqlDatabase extends SqlExecutor {
  /** One transaction: committed (durably, when asked to be) when fn resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /** Releases what the executor itself holds (not the connection, which typeorm owns). */
  close?(): Promise<void>;
}

interface BetterSqliteStatement {
  all(...params: unknown[]): unknown[];
  run(...params: unknown[]): { changes: number };
  reader: boolean;
}

interface BetterSqliteDatabase {
  prepare(sql: string): BetterSqliteStatement;
  exec(sql: string): void;
  pragma(sql: string, options?: { simple: boolean }): unknown;
  readonly name: string;
  readonly memory: boolean;
}

/** Rewrites {os_table} names; PostgreSQL also gets numbered placeholders. */
function rewrite(sql: string, dialect: 'sqlite' | 'postgres', schema: string): string {
  if (dialect === 'sqlite') return sql.replace(/\{(\w+)\}/g, '$1');
  let n = 0;
  return sql.replace(/\{(\w+)\}/g, `"${schema}".$1`).replace(/\?/g, () => `$${++n}`);
}

export class SqliteDatabase implements SqlDatabase {
  readonly dialect = 'sqlite';
  private readonly statements = new Map<string, BetterSqliteStatement>();
  private queue: Promise<unknown> = Promise.resolve();
  /** Syncs the write-ahead log off the event loop (null: SQLite syncs, or nothing does). */
  private readonly walSync: FileSync | null;

  constructor(
    private readonly db: BetterSqliteDatabase,
    options: { durable: boolean },
  ) {
    // Every acknowledged write is durable. In WAL mode SQLite would fsync the log inside
    // COMMIT (synchronous=FULL), blocking the event loop for the whole fsync; instead the
    // connection runs synchronous=NORMAL (the log is written at COMMIT, and synced before
    // every checkpoint and WAL restart) and each transaction resolves only after an
    // fdatasync of the log, from the thread pool, that started after its COMMIT: the same
    // guarantee as FULL for everything acknowledged, and concurrent commits share one sync.
    const wal = !db.memory && String(db.pragma('journal_mode', { simple: true })).toLowerCase() === 'wal';
    if (options.durable && !wal) db.pragma('synchronous = FULL');
    else db.pragma('synchronous = NORMAL');
    this.walSync = options.durable && wal ? new FileSync(`${db.name}-wal`) : null;
  }

  static fromDataSource(ds: DataSource, options: { durable: boolean }): SqliteDatabase {
    const driver = ds.driver as unknown as { databaseConnection?: BetterSqliteDatabase };
    if (!driver.databaseConnection) throw new Error('not a better-sqlite3 data source');
    return new SqliteDatabase(driver.databaseConnection, options);
  }

  private statement(sql: string): BetterSqliteStatement {
    let stmt = this.statements.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(rewrite(sql, 'sqlite', ''));
      this.statements.set(sql, stmt);
    }
    return stmt;
  }

  async all(sql: string, params: readonly Param[] = []): Promise<Row[]> {
    return this.statement(sql).all(...params) as Row[];
  }

  async run(sql: string, params: readonly Param[] = []): Promise<number> {
    return this.statement(sql).run(...params).changes;
  }

  /**
   * SQLite has one connection: transactions run one after another. Statements inside run
   * synchronously, so the body only awaits settled promises. The next transaction may
   * start while this one's log sync is in flight; it then waits for a sync of its own.
   */
  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn(this);
        this.db.exec('COMMIT');
        return result;
      } catch (err) {
        this.db.exec('ROLLBACK');
        throw err;
      }
    });
    this.queue = run.catch(() => undefined);
    const result = await run;
    if (this.walSync) await this.walSync.request();
    return result;
  }

  async close(): Promise<void> {
    await this.walSync?.close();
  }
}

/**
 * fdatasync of one file through a descriptor of its own, coalesced: a request made while a
 * sync runs waits for the next one (which starts after the running one, so it covers
 * everything written before the request); all requests made meanwhile share it.
 */
export class FileSync {
  private handle: Promise<FileHandle> | null = null;
  private running: Promise<void> | null = null;
  private next: Promise<void> | null = null;

  constructor(private readonly path: string) {}

  request(): Promise<void> {
    if (!this.running) {
      this.running = this.run();
      return this.running;
    }
    this.next ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.next = null;
        this.running = this.run();
        return this.running;
      });
    return this.next;
  }

  private async run(): Promise<void> {
    try {
      this.handle ??= open(this.path, 'r');
      const fh = await this.handle.catch((err: unknown) => {
        this.handle = null;
        throw err;
      });
      await fh.datasync();
    } finally {
      queueMicrotask(() => {
        if (!this.next) this.running = null;
      });
    }
  }

  async close(): Promise<void> {
    while (this.running || this.next) await (this.next ?? this.running)!.catch(() => undefined);
    const h = this.handle;
    this.handle = null;
    if (h) await (await h).close();
  }
}

class PostgresExecutor implements SqlExecutor {
  readonly dialect = 'postgres';

  constructor(
    private readonly runner: Pick<QueryRunner, 'query'>,
    private readonly schema: string,
  ) {}

  async all(sql: string, params: readonly Param[] = []): Promise<Row[]> {
    const result = (await this.runner.query(rewrite(sql, 'postgres', this.schema), [...params], true)) as {
      records: Row[];
    };
    return result.records;
  }

  async run(sql: string, params: readonly Param[] = []): Promise<number> {
    const result = (await this.runner.query(rewrite(sql, 'postgres', this.schema), [...params], true)) as {
      affected?: number;
    };
    return result.affected ?? 0;
  }
}

export class PostgresDatabase implements SqlDatabase {
  readonly dialect = 'postgres';
  constructor(
    private readonly ds: DataSource,
    private readonly schema: string,
  ) {}

  all(sql: string, params?: readonly Param[]): Promise<Row[]> {
    return this.withRunner((ex) => ex.all(sql, params));
  }

  run(sql: string, params?: readonly Param[]): Promise<number> {
    return this.withRunner((ex) => ex.run(sql, params));
  }

  private async withRunner<T>(fn: (ex: PostgresExecutor) => Promise<T>): Promise<T> {
    const runner = this.ds.createQueryRunner();
    try {
      return await fn(new PostgresExecutor(runner, this.schema));
    } finally {
      await runner.release();
    }
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const runner = this.ds.createQueryRunner();
    await runner.connect();
    try {
      await runner.startTransaction();
      try {
        const result = await fn(new PostgresExecutor(runner, this.schema));
        await runner.commitTransaction();
        return result;
      } catch (err) {
        await runner.rollbackTransaction().catch(() => undefined);
        throw err;
      }
    } finally {
      await runner.release();
    }
  }
}

export function sqlDatabaseFor(ds: DataSource, schema: string, options: { durable: boolean }): SqlDatabase {
  return ds.options.type === 'postgres'
    ? new PostgresDatabase(ds, schema)
    : SqliteDatabase.fromDataSource(ds, options);
}
