/**
 * PostgreSQL transactions in one or two round trips. node-postgres sends one statement per round
 * trip, and under load every round trip waits for two busy processes (the service's event
 * loop and the database backend), so a short transaction of five statements costs five such
 * waits. Here the opening statements (BEGIN, a lock, the reads) go as one multi-statement
 * query, the caller decides in between, and its writes go with COMMIT as another.
 *
 * Multi-statement queries cannot carry parameters, so values are inlined as escaped literals:
 * `inline` takes SQL with $n placeholders, as typeorm's query builders write it, and the
 * values the builder prepared, and writes each value as a literal (quoteLiteral: the
 * driver's escaping, done with native string replacement; numbers and booleans as SQL).
 * Nothing else in the SQL is touched.
 */
import type { DataSource, EntityManager } from 'typeorm';

export type Row = Record<string, unknown>;

export interface PipelinedConnection {
  /** typeorm on the same connection, inside the transaction (for reads between the trips). */
  em: EntityManager;
  /** SQL with $1, $2… placeholders turned into SQL with the values inlined, escaped. */
  inline: (sql: string, params: readonly unknown[]) => string;
}

interface PgResult {
  rows: Row[];
}
interface PgClient {
  query(text: string): Promise<PgResult | PgResult[]>;
}

/**
 * A string as a PostgreSQL literal, exactly as node-postgres's escapeLiteral writes it: quotes
 * doubled, and where the value has a backslash, an E'' literal with backslashes doubled (right
 * whatever standard_conforming_strings says). The driver's version builds the result one
 * character at a time, which costs ~9 µs for a 700-byte JSON payload against ~1 µs here; a
 * boot inlines several such values.
 */
export function quoteLiteral(value: string): string {
  const quoted = value.includes("'") ? value.replaceAll("'", "''") : value;
  return value.includes('\\') ? ` E'${quoted.replaceAll('\\', '\\\\')}'` : `'${quoted}'`;
}

/** Inlines $n placeholders (not inside the SQL's own quotes: typeorm writes none there). */
export function inlineParameters(sql: string, params: readonly unknown[]): string {
  return sql.replace(/\$(\d+)/g, (_, n: string) => {
    const index = Number(n) - 1;
    if (index < 0 || index >= params.length) throw new Error(`no value for placeholder $${n}`);
    const value = params[index];
    if (value === null || value === undefined) return 'NULL';
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new Error(`cannot inline the number ${value}`);
      return String(value);
    }
    if (typeof value === 'bigint') return value.toString();
    if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
    if (typeof value === 'string') return quoteLiteral(value);
    if (value instanceof Date) return quoteLiteral(value.toISOString());
    if (Buffer.isBuffer(value)) return `'\\x${value.toString('hex')}'::bytea`;
    return quoteLiteral(JSON.stringify(value));
  });
}

/**
 * Runs `statements` between BEGIN and COMMIT in one round trip (values inlined with `inline`),
 * and returns each statement's rows. A failing statement makes PostgreSQL skip the rest of
 * the text, COMMIT included: the transaction is rolled back and the error thrown, so a
 * statement that raises on a condition (a guard) decides whether the whole lot commits.
 */
export async function oneTripTransaction(
  ds: DataSource,
  statements: (inline: PipelinedConnection['inline']) => readonly string[],
): Promise<Row[][]> {
  return withClient(ds, async (client, conn) => {
    const rows = await runStatements(client, ['BEGIN', ...statements(conn.inline), 'COMMIT']);
    return rows.slice(1, -1);
  });
}

/**
 * Runs BEGIN and the `opening` statements (written with `inline` at hand) in one round trip, then `body` with the opening statements' rows,
 * then the statements `body` returns and COMMIT in one more. Any failure rolls back; a
 * connection that cannot roll back is discarded, never returned to the pool mid-transaction.
 */
export async function pipelinedTransaction<T>(
  ds: DataSource,
  opening: (inline: PipelinedConnection['inline']) => readonly string[],
  body: (rows: Row[][], conn: PipelinedConnection) => Promise<{ value: T; closing: readonly string[] }>,
): Promise<T> {
  return withClient(ds, async (client, conn) => {
    const opened = await runStatements(client, ['BEGIN', ...opening(conn.inline)]);
    const { value, closing } = await body(opened.slice(1), conn);
    await runStatements(client, [...closing, 'COMMIT']);
    return value;
  });
}

async function runStatements(client: PgClient, statements: readonly string[]): Promise<Row[][]> {
  const result = await client.query(statements.join(';\n'));
  return (Array.isArray(result) ? result : [result]).map((r) => r.rows);
}

/**
 * A pooled connection for `work`; any failure rolls back whatever transaction it left open. A
 * connection that cannot roll back is discarded, never returned to the pool mid-transaction.
 */
async function withClient<T>(
  ds: DataSource,
  work: (client: PgClient, conn: PipelinedConnection) => Promise<T>,
): Promise<T> {
  if (ds.options.type !== 'postgres') throw new Error('pipelined transactions need PostgreSQL');
  const runner = ds.createQueryRunner();
  const client = (await runner.connect()) as PgClient;
  const conn: PipelinedConnection = {
    em: runner.manager,
    inline: inlineParameters,
  };
  let broken: unknown;
  try {
    return await work(client, conn);
  } catch (err) {
    // Whatever ran, the transaction may be open (or aborted): end it before the connection goes back.
    await client.query('ROLLBACK').catch((rollbackError: unknown) => (broken = rollbackError));
    throw err;
  } finally {
    await (
      runner as unknown as { releasePostgresConnection(err?: unknown): Promise<void> }
    ).releasePostgresConnection(broken);
  }
}
