/**
 * The outbox relay: messages written in the same transaction as the change they announce are
 * published here, persistent and confirmed, and deleted only after the broker's confirm. A
 * crash between confirm and delete re-publishes with the same message id (receivers are
 * idempotent on it). Messages of one instance go out in order; different instances in parallel.
 */
import { randomUUID } from 'node:crypto';
import type { Bus } from '@strato/bus';
import { ComputeClient, SchedulerClient, type InstanceSpec } from '@strato/contracts';
import { deleteStatement, inTransaction, type DataSource, type EntityManager } from '@strato/db';
import { AppError, toAppError } from '@strato/errors';
import { currentRequestId, newRequestId, type Logger } from '@strato/log';
import { OutboxEntity, type OutboxRow } from './store';

export type OutboxMessage =
  | { type: 'scheduler.schedule_instance'; host: null; payload: SchedulePayload }
  | { type: 'scheduler.release_claim'; host: null; payload: { instance_id: string } }
  | { type: 'compute.delete_instance'; host: string; payload: { instance_id: string } }
  | { type: 'compute.start_instance'; host: string; payload: { instance_id: string } }
  | { type: 'compute.stop_instance'; host: string; payload: { instance_id: string } }
  | {
      type: 'compute.reboot_instance';
      host: string;
      payload: { instance_id: string; reboot_type: 'SOFT' | 'HARD' };
    }
  | { type: 'compute.snapshot_instance'; host: string; payload: { instance_id: string; image_id: string } };

export type SchedulePayload = InstanceSpec & {
  availability_zone: string | null;
  server_group: {
    id: string;
    policy: 'affinity' | 'anti-affinity' | 'soft-affinity' | 'soft-anti-affinity';
    hosts: string[];
  } | null;
  attempt: number;
  excluded_hosts: string[];
};

/** Writes a message into the outbox inside the caller's transaction. */
export async function enqueue(em: EntityManager, message: OutboxMessage): Promise<void> {
  await em.insert(OutboxEntity, outboxRow(message) as never);
}

/** An outbox row for a message, tagged with the given request id (default: the current one). */
export function outboxRow(
  message: OutboxMessage,
  requestId: string = currentRequestId() ?? newRequestId(),
): Omit<OutboxRow, 'seq'> {
  return {
    id: randomUUID(),
    messageType: message.type,
    host: message.host,
    payload: message.payload,
    requestId,
    createdAt: new Date().toISOString(),
  };
}

const BATCH = 200;

export class OutboxRelay {
  private readonly scheduler: SchedulerClient;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = true;
  /** Rows their writer has just committed and handed over: published without a read. */
  private offered: OutboxRow[] = [];
  /** Seqs of offered rows not yet sent and deleted: a pass that reads the table skips them. */
  private readonly handling = new Set<number>();

  constructor(
    private readonly deps: {
      db: DataSource;
      bus: Bus;
      log: Logger;
      pollMs?: number;
      /**
       * When a kicked pass may start (default: the next turn of the event loop). The api
       * passes afterRequests: the process's HTTP requests go first, for at most 100 ms, and
       * the pass then takes whatever rows came meanwhile in one go.
       */
      nextTurn?: () => Promise<void>;
    },
  ) {
    this.scheduler = new SchedulerClient(deps.bus);
  }

  start(): void {
    this.stopped = false;
    const every = this.deps.pollMs ?? 1000;
    this.timer = setInterval(() => this.kick(), every);
    this.timer.unref();
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /**
   * Asks for a pass soon; passes never overlap, a kick during one triggers another. The pass
   * starts on a later turn of the event loop (see nextTurn), not inside the caller's
   * continuation: the response of the request that wrote the message goes out first, and the
   * kicks of the requests served meanwhile share one pass.
   */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (this.deps.nextTurn?.() ?? new Promise<void>((resolve) => setImmediate(resolve)))
      .then(() => (this.stopped ? undefined : this.loop()))
      .finally(() => {
        this.running = null;
      });
  }

  /**
   * Takes rows their writer has just committed (with their seqs) and publishes them on the
   * next pass, without reading them back; the table keeps them until sent, so a crash or a
   * failed publish leaves them to a later pass that reads it. A row read by such a pass in
   * the moment between the commit and this call can go out twice, with the same message id
   * (receivers are idempotent on it).
   */
  offer(rows: readonly OutboxRow[]): void {
    if (rows.length === 0) return;
    for (const row of rows) {
      this.offered.push(row);
      this.handling.add(row.seq);
    }
    this.kick();
  }

  /** Runs passes until the outbox is empty or a publish fails (for tests and shutdown). */
  async drain(): Promise<void> {
    await this.running;
    while (this.offered.length > 0) await this.pass();
    await this.pass();
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      try {
        const more = await this.pass();
        if (more) this.again = true;
      } catch (err) {
        this.deps.log.error({ err }, 'outbox relay pass failed');
        return;
      }
    } while (this.again && !this.stopped);
  }

  /**
   * One batch: the rows offered, if any, else the oldest in the table; true when there may be
   * more (offered rows left, or a full batch read and fully published).
   */
  private async pass(): Promise<boolean> {
    const offered = this.offered.length > 0;
    const rows = offered
      ? this.offered.splice(0, BATCH)
      : (await this.deps.db.getRepository(OutboxEntity).find({ order: { seq: 'ASC' }, take: BATCH })).filter(
          (row) => !this.handling.has(row.seq),
        );
    try {
      const sent = await this.publishAll(rows);
      return offered ? this.offered.length > 0 : sent && rows.length === BATCH;
    } finally {
      if (offered) for (const row of rows) this.handling.delete(row.seq);
    }
  }

  /** Publishes rows (per instance in order) and deletes those sent; false if any publish failed. */
  private async publishAll(rows: readonly OutboxRow[]): Promise<boolean> {
    if (rows.length === 0) return true;
    const byInstance = new Map<string, OutboxRow[]>();
    for (const row of rows) {
      const instance = row.payload.instance_id;
      const key = typeof instance === 'string' ? instance : row.id;
      byInstance.set(key, [...(byInstance.get(key) ?? []), row]);
    }
    const done: number[] = [];
    let failed = false;
    await Promise.all(
      [...byInstance.values()].map(async (group) => {
        for (const row of group) {
          try {
            await this.publish(row);
            done.push(row.seq);
          } catch (err) {
            const e = toAppError(err);
            if (e.kind === 'Invalid') {
              this.deps.log.error(
                { err: e.message, type: row.messageType },
                'dropping an invalid outbox message',
              );
              done.push(row.seq);
              continue;
            }
            failed = true;
            this.deps.log.warn(
              { err: e.message, type: row.messageType },
              'outbox publish failed; will retry',
            );
            return;
          }
        }
      }),
    );
    if (done.length > 0) {
      const [sql, params] = deleteStatement(this.deps.db, OutboxEntity, 'seq', done);
      const remove = (em: EntityManager) => em.query(sql, params);
      // On PostgreSQL one statement is atomic by itself (no BEGIN and COMMIT round trips); on
      // SQLite's single connection it waits its turn, outside any other transaction.
      if (this.deps.db.options.type === 'postgres') await remove(this.deps.db.manager);
      else await inTransaction(this.deps.db, remove);
    }
    return !failed;
  }

  private async publish(row: OutboxRow): Promise<void> {
    const options = { id: row.id, requestId: row.requestId };
    const instanceId = String(row.payload.instance_id);
    const message = { type: row.messageType, host: row.host, payload: row.payload } as OutboxMessage;
    switch (message.type) {
      case 'scheduler.schedule_instance':
        await this.scheduler.scheduleInstance(message.payload, options);
        return;
      case 'scheduler.release_claim':
        await this.scheduler.releaseClaim(instanceId, options);
        return;
      case 'compute.delete_instance':
        await new ComputeClient(this.deps.bus, message.host).deleteInstance(instanceId, options);
        return;
      case 'compute.start_instance':
        await new ComputeClient(this.deps.bus, message.host).startInstance(instanceId, options);
        return;
      case 'compute.stop_instance':
        await new ComputeClient(this.deps.bus, message.host).stopInstance(instanceId, options);
        return;
      case 'compute.reboot_instance':
        await new ComputeClient(this.deps.bus, message.host).rebootInstance(
          instanceId,
          message.payload.reboot_type,
          options,
        );
        return;
      case 'compute.snapshot_instance':
        await new ComputeClient(this.deps.bus, message.host).snapshotInstance(
          instanceId,
          message.payload.image_id,
          options,
        );
        return;
      default: {
        const unknown: never = message;
        throw new AppError('Invalid', `unknown outbox message ${(unknown as OutboxRow).messageType}`);
      }
    }
  }
}
