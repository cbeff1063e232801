/**
 * Multi-row INSERT statements written from an entity's metadata, without a query builder.
 * typeorm's InsertQueryBuilder re-derives the column list, escapes every name and walks its
 * expression maps for each statement, which on a hot path (every boot) costs more than the
 * database does to run it. Here the column plan is computed once per entity and each value is
 * prepared by the driver's own persistence rules (simple-json, booleans, dates), so the
 * statement is what the builder would write, with placeholders for every value.
 */
import type { DataSource, EntityMetadata, EntityTarget, ObjectLiteral } from 'typeorm';

interface Plan {
  table: string;
  columnList: string;
  columns: EntityMetadata['columns'];
}

const plans = new WeakMap<DataSource, Map<EntityTarget<ObjectLiteral>, Plan>>();

function planFor(ds: DataSource, target: EntityTarget<ObjectLiteral>): Plan {
  let byTarget = plans.get(ds);
  if (!byTarget) plans.set(ds, (byTarget = new Map()));
  let plan = byTarget.get(target);
  if (!plan) {
    const metadata = ds.getMetadata(target);
    const escape = (name: string) => ds.driver.escape(name);
    const columns = metadata.columns.filter((c) => !c.isGenerated && !c.isVirtual);
    plan = {
      table: metadata.tablePath.split('.').map(escape).join('.'),
      columnList: columns.map((c) => escape(c.databaseName)).join(', '),
      columns,
    };
    byTarget.set(target, plan);
  }
  return plan;
}

/**
 * One INSERT of all `rows` into the entity's table, as [sql, parameters] in the driver's
 * placeholder style ($n on PostgreSQL, ? on SQLite). Generated columns are left to the
 * database; every other column must be present in every row (undefined is refused, null is
 * NULL), so a forgotten field fails loudly instead of silently taking a default.
 */
export function insertStatement<T extends ObjectLiteral>(
  ds: DataSource,
  target: EntityTarget<T>,
  rows: readonly Partial<T>[],
): [string, unknown[]] {
  if (rows.length === 0) throw new Error('insertStatement needs at least one row');
  const plan = planFor(ds, target as EntityTarget<ObjectLiteral>);
  const numbered = ds.options.type === 'postgres';
  const params: unknown[] = [];
  const tuples: string[] = [];
  for (const row of rows) {
    const marks: string[] = [];
    for (const column of plan.columns) {
      const value = (row as ObjectLiteral)[column.propertyName] as unknown;
      if (value === undefined) {
        throw new Error(`insertStatement: no value for ${plan.table}.${column.databaseName}`);
      }
      params.push(ds.driver.preparePersistentValue(value, column));
      marks.push(numbered ? `$${params.length}` : '?');
    }
    tuples.push(`(${marks.join(', ')})`);
  }
  return [`INSERT INTO ${plan.table} (${plan.columnList}) VALUES ${tuples.join(', ')}`, params];
}
