import type { EntityManager } from '@strato/db';

/**
 * find options that lock the rows read (SELECT … FOR UPDATE) until the transaction ends, on
 * PostgreSQL; SQLite needs none, as inTransaction runs its transactions one at a time.
 */
export function forUpdate(em: EntityManager): { lock?: { mode: 'pessimistic_write' } } {
  return em.connection.options.type === 'postgres' ? { lock: { mode: 'pessimistic_write' } } : {};
}
