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
 *
 * Inlined literals make each statement new text, which PostgreSQL parses and plans every
 * time. A statement run on every call whose planning costs more than its execution (a claim's
 * decision: ~1.5 ms of planning against ~1 ms of execution) can be a `PreparedStatement`
 * instead: `execute` writes `EXECUTE name(literals…)` into the trip, and each connection
 * prepares the statement once, in its own round trip, the first time a trip uses it.
 */
import type { DataSource, EntityManager } from 'typeorm';

export type Row = Record<string, unknown>;

export interface PipelinedConnection {
  /** typeorm on the same connection, inside the transaction (for reads between the trips). */
  em: EntityManager;
  /** SQL with $1, $2… placeholders turned into SQL with the values inlined, escaped. */
  inline: (sql: string, params: readonly unknown[]) => string;
  /** A prepared statement's EXECUTE with the values inlined; the connection prepares it first. */
  execute: (statement: PreparedStatement, params: readonly unknown[]) => string;
}

/** A statement that each connection parses and plans once (PREPARE), then runs by name. */
export interface PreparedStatement {
  readonly name: string;
  /** PostgreSQL's types of $1, $2…, in order. */
  readonly types: readonly string[];
  /** SQL with $1, $2… placeholders. */
  readonly sql: string;
}

/** Every statement's SQL by name: a connection knows a prepared statement by its name alone. */
const statementNames = new Map<string, string>();

export function preparedStatement(name: string, types: readonly string[], sql: string): PreparedStatement {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain statement name: ${name}`);
  const declared = `(${types.join(', ')}) AS ${sql}`;
  if ((statementNames.get(name) ?? declared) !== declared)
    throw new Error(`${name} is already another statement`);
  statementNames.set(name, declared);
  return { name, types, sql };
}

/** PostgreSQL's invalid_sql_statement_name: EXECUTE of a statement the session has not prepared. */
const UNKNOWN_STATEMENT = '26000';

/** The statements each pooled connection has prepared; a discarded connection takes its set along. */
const preparedOn = new WeakMap<PgClient, Set<string>>();

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
  statements: (
    inline: PipelinedConnection['inline'],
    execute: PipelinedConnection['execute'],
  ) => readonly string[],
): Promise<Row[][]> {
  return withClient(ds, async (client, conn, prepare) => {
    const text = statements(conn.inline, conn.execute);
    const settings = await prepare();
    const rows = await runStatements(client, ['BEGIN', ...settings, ...text, 'COMMIT']);
    return rows.slice(1 + settings.length, -1);
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
  return withClient(ds, async (client, conn, prepare) => {
    const opened = await runStatements(client, ['BEGIN', ...opening(conn.inline)]);
    const { value, closing } = await body(opened.slice(1), conn);
    await runStatements(client, [...(await prepare()), ...closing, 'COMMIT']);
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
 *
 * `work` calls `prepare` before sending text that `execute` wrote. It prepares, each in its
 * own round trip, the statements this connection has not prepared yet, and gives the
 * settings to put at the head of that text, inside the transaction: the prepared statements'
 * generic plan from their first run. (PostgreSQL would otherwise plan their first five runs
 * on each connection anew, which is the cost they are prepared to save; their lookups are by
 * key, for which the generic plan is the custom one.)
 */
async function withClient<T>(
  ds: DataSource,
  work: (client: PgClient, conn: PipelinedConnection, prepare: () => Promise<string[]>) => Promise<T>,
): Promise<T> {
  if (ds.options.type !== 'postgres') throw new Error('pipelined transactions need PostgreSQL');
  const runner = ds.createQueryRunner();
  const client = (await runner.connect()) as PgClient;
  let prepared = preparedOn.get(client);
  if (!prepared) preparedOn.set(client, (prepared = new Set()));
  const wanted = new Map<string, PreparedStatement>();
  let executes = false;
  const conn: PipelinedConnection = {
    em: runner.manager,
    inline: inlineParameters,
    execute: (statement, params) => {
      if (params.length !== statement.types.length) {
        throw new Error(`${statement.name} takes ${statement.types.length} values, not ${params.length}`);
      }
      if (!prepared.has(statement.name)) wanted.set(statement.name, statement);
      executes = true;
      const values = params.map((_, i) => `$${i + 1}`).join(', ');
      return inlineParameters(`EXECUTE ${statement.name}(${values})`, params);
    },
  };
  const prepare = async () => {
    for (const statement of wanted.values()) {
      await client.query(`PREPARE ${statement.name} (${statement.types.join(', ')}) AS ${statement.sql}`);
      prepared.add(statement.name);
    }
    wanted.clear();
    const settings = executes ? ['SET LOCAL plan_cache_mode = force_generic_plan'] : [];
    executes = false;
    return settings;
  };
  let broken: unknown;
  try {
    return await work(client, conn, prepare);
  } catch (err) {
    // Whatever ran, the transaction may be open (or aborted): end it before the connection goes back.
    await client.query('ROLLBACK').catch((rollbackError: unknown) => (broken = rollbackError));
    // A prepared statement the session no longer has (DEALLOCATE, a pooler that switched
    // sessions): this trip fails, and the next one on this connection prepares afresh.
    if ((err as { code?: unknown }).code === UNKNOWN_STATEMENT) prepared.clear();
    throw err;
  } finally {
    await (
      runner as unknown as { releasePostgresConnection(err?: unknown): Promise<void> }
    ).releasePostgresConnection(broken);
  }
}
