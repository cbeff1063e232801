/**
 * Group commit: writes that arrive while a transaction is committing wait and then commit
 * together in the next one, so many small PUTs share one durable commit (one fsync on SQLite,
 * one round of WAL flush on PostgreSQL). An operation that fails with a domain error (an
 * AppError other than Internal) has, by contract, written nothing before throwing, so the
 * batch goes on; any other failure rolls the batch back and each operation is retried alone,
 * so one bad write never fails its neighbours.
 */
import { isAppError } from '@strato/errors';
import type { SqlDatabase, SqlExecutor } from './sql';

export type WriteOp<T> = (tx: SqlExecutor) => Promise<T>;

interface Pending {
  op: WriteOp<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

const MAX_BATCH = 256;

function isDomainError(err: unknown): boolean {
  return isAppError(err) && err.kind !== 'Internal';
}

export class GroupCommit {
  private pending: Pending[] = [];
  private draining: Promise<void> | null = null;

  constructor(private readonly db: SqlDatabase) {}

  submit<T>(op: WriteOp<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ op, resolve: resolve as (v: unknown) => void, reject });
      this.draining ??= this.drain();
    });
  }

  /** Resolves once everything submitted so far has committed or failed. */
  async idle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0, MAX_BATCH);
        await this.commit(batch);
      }
    } finally {
      this.draining = null;
    }
  }

  private async commit(batch: Pending[]): Promise<void> {
    let outcomes: Outcome[];
    try {
      outcomes = await this.db.transaction(async (tx) => {
        const results: Outcome[] = [];
        for (const p of batch) {
          try {
            results.push({ ok: true, value: await p.op(tx) });
          } catch (error) {
            if (!isDomainError(error)) throw error;
            results.push({ ok: false, error });
          }
        }
        return results;
      });
    } catch (error) {
      if (batch.length === 1) {
        batch[0]!.reject(error);
        return;
      }
      for (const p of batch) {
        try {
          p.resolve(await this.db.transaction((tx) => p.op(tx)));
        } catch (err) {
          p.reject(err);
        }
      }
      return;
    }
    outcomes.forEach((o, i) => {
      const p = batch[i]!;
      if (o.ok) p.resolve(o.value);
      else p.reject(o.error);
    });
  }
}
