/**
 * Bus handlers: instance.state_changed (from the scheduler and agents, v1 and v2, the latter
 * with createImage's task_states) updates instances, idempotently and ignoring stale events;
 * host.instances (an agent's inventory at start) reconciles the api's view of that host.
 * Handlers only validate (MessageRouter) and delegate.
 */
import type { Bus, Subscription } from '@strato/bus';
import {
  apiQueues,
  hostInstances,
  instanceStateChanged,
  instanceStateChangedV1,
  instanceStateChangedV2,
  MessageRouter,
  type PayloadOf,
} from '@strato/contracts';
import {
  inTransaction,
  insertStatement,
  pipelinedTransaction,
  rowMapper,
  updateStatement,
  type DataSource,
} from '@strato/db';
import type { Logger } from '@strato/log';
import { applyStateEvent, type TrackedState } from './domain/instance-state';
import { enqueue, outboxRow, type OutboxRelay } from './outbox.relay';
import { InstanceEntity, OutboxEntity, type InstanceRow } from './store';

function tracked(row: InstanceRow): TrackedState {
  return {
    vmState: row.vmState,
    taskState: row.taskState,
    powerState: row.powerState,
    host: row.host,
    attempt: row.attempt,
    lastEventAt: row.lastEventAt,
    launchedAt: row.launchedAt,
    terminatedAt: row.terminatedAt,
    fault: row.fault,
    deleted: row.deleted,
  };
}

/** State events applied in one transaction at most. */
const EVENT_BATCH = 100;

interface PendingEvent {
  event: PayloadOf<typeof instanceStateChanged>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class InstanceEventHandlers {
  /** Events waiting for the next batch (see stateChanged). */
  private pending: PendingEvent[] = [];
  private draining = false;
  private mapper: ((raw: Record<string, unknown>) => InstanceRow) | null = null;

  constructor(private readonly deps: { db: DataSource; relay: OutboxRelay; log: Logger }) {}

  /**
   * Applies a state event; resolves once it is committed (the message is acknowledged then).
   * Events that arrive while a batch is being written go together in the next one: one
   * transaction, one locking read of their instances, one UPDATE per instance changed. A
   * batch is applied in arrival order, each event to what the one before it left, and
   * batches one after another, so each event still applies to what the previous committed.
   */
  stateChanged(event: PayloadOf<typeof instanceStateChanged>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ event, resolve, reject });
      if (!this.draining) {
        this.draining = true;
        void this.drain();
      }
    });
  }

  private async drain(): Promise<void> {
    // Let the events delivered in the same turn (one read from the broker) join the first batch.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, EVENT_BATCH);
      try {
        const queued = await this.applyBatch(batch.map((p) => p.event));
        for (const p of batch) p.resolve();
        if (queued) this.deps.relay.kick();
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    }
    this.draining = false;
  }

  /**
   * One transaction for a batch of events; true when it queued outbox messages. On
   * PostgreSQL it takes two round trips: BEGIN with the locking read, then the writes with
   * COMMIT.
   */
  private applyBatch(events: PayloadOf<typeof instanceStateChanged>[]): Promise<boolean> {
    const db = this.deps.db;
    // Lock the rows (in id order, as every batch does) so that actions and other api
    // processes see each batch whole.
    const ids = [...new Set(events.map((e) => e.instance_id))].sort();
    const postgres = db.options.type === 'postgres';
    const [select, params] = db.driver.escapeQueryWithParameters(
      `SELECT * FROM instances WHERE id IN (:...ids) ORDER BY id${postgres ? ' FOR UPDATE' : ''}`,
      { ids },
    );
    if (postgres) {
      return pipelinedTransaction(
        db,
        (inline) => [inline(select, params)],
        async ([rows], conn) => {
          const { writes, queued } = this.decide(events, rows!);
          return { value: queued, closing: writes.map(([sql, values]) => conn.inline(sql, values)) };
        },
      );
    }
    return inTransaction(db, async (em) => {
      const { writes, queued } = this.decide(
        events,
        await em.query<Record<string, unknown>[]>(select, params),
      );
      for (const [sql, values] of writes) await em.query(sql, values);
      return queued;
    });
  }

  /** The writes a batch of events makes to the instances read (raw rows), in arrival order. */
  private decide(
    events: PayloadOf<typeof instanceStateChanged>[],
    raw: Record<string, unknown>[],
  ): { writes: [string, unknown[]][]; queued: boolean } {
    const db = this.deps.db;
    const rows = raw.map((this.mapper ??= rowMapper(db, InstanceEntity)));
    const byId = new Map(
      rows.map((row) => [row.id, { row, state: tracked(row), zone: row.availabilityZone, changed: false }]),
    );
    const writes: [string, unknown[]][] = [];
    let queued = false;
    for (const event of events) {
      const current = byId.get(event.instance_id);
      if (!current) {
        this.deps.log.warn({ instance: event.instance_id }, 'state event for an unknown instance');
        continue;
      }
      const outcome = applyStateEvent(current.state, event);
      switch (outcome.kind) {
        case 'stale':
          break;
        case 'cleanup':
          this.deps.log.info(
            { instance: current.row.id, host: outcome.host },
            'deleted instance found on a host',
          );
          writes.push(
            insertStatement(db, OutboxEntity, [
              outboxRow({
                type: 'compute.delete_instance',
                host: outcome.host,
                payload: { instance_id: current.row.id },
              }),
            ]),
          );
          queued = true;
          break;
        case 'apply':
          current.state = outcome.next;
          // The zone of the host it runs on (the one asked for, when one was).
          if (event.host && event.availability_zone) current.zone = event.availability_zone;
          current.changed = true;
          break;
      }
    }
    const now = new Date().toISOString();
    for (const { row, state: next, zone, changed } of byId.values()) {
      if (!changed) continue;
      const update: Partial<InstanceRow> = {
        vmState: next.vmState,
        taskState: next.taskState,
        powerState: next.powerState,
        host: next.host,
        availabilityZone: zone,
        attempt: next.attempt,
        lastEventAt: next.lastEventAt,
        launchedAt: next.launchedAt,
        terminatedAt: next.terminatedAt,
        fault: next.fault,
        deleted: next.deleted,
        deletedAt: next.deleted ? (row.deletedAt ?? now) : null,
        updatedAt: now,
      };
      writes.push(updateStatement(db, InstanceEntity, update, 'seq', row.seq));
    }
    return { writes, queued };
  }

  /** An agent's guests at its start: missing ones go to error, drift is corrected, strays removed. */
  async hostInstances(report: PayloadOf<typeof hostInstances>): Promise<void> {
    const reported = new Map(report.instances.map((i) => [i.instance_id, i.power_state]));
    const at = new Date(report.reported_at).toISOString();
    const queued = await inTransaction(this.deps.db, async (em) => {
      let cleanups = 0;
      const rows = await em.find(InstanceEntity, { where: { host: report.host, deleted: false } });
      const now = new Date().toISOString();
      for (const row of rows) {
        if (row.lastEventAt !== null && row.lastEventAt > at) continue;
        const power = reported.get(row.id);
        reported.delete(row.id);
        if (power === undefined) {
          if (row.taskState === 'deleting') {
            await em.update(
              InstanceEntity,
              { seq: row.seq },
              {
                vmState: 'deleted',
                taskState: null,
                powerState: 0,
                deleted: true,
                deletedAt: now,
                terminatedAt: row.terminatedAt ?? now,
                updatedAt: now,
                lastEventAt: at,
              },
            );
          } else if (row.vmState !== 'building' && row.vmState !== 'error') {
            await em.update(
              InstanceEntity,
              { seq: row.seq },
              {
                vmState: 'error',
                taskState: null,
                powerState: 0,
                updatedAt: now,
                lastEventAt: at,
                fault: {
                  code: 500,
                  message: 'The guest is missing on its host.',
                  details: null,
                  created: at,
                },
              },
            );
          }
          continue;
        }
        if (row.taskState !== null) continue;
        if (power === 1 && row.vmState === 'stopped') {
          await em.update(
            InstanceEntity,
            { seq: row.seq },
            { vmState: 'active', powerState: 1, updatedAt: now, lastEventAt: at },
          );
        } else if (power === 4 && row.vmState === 'active') {
          await em.update(
            InstanceEntity,
            { seq: row.seq },
            { vmState: 'stopped', powerState: 4, updatedAt: now, lastEventAt: at },
          );
        } else if (power !== row.powerState) {
          await em.update(
            InstanceEntity,
            { seq: row.seq },
            { powerState: power, updatedAt: now, lastEventAt: at },
          );
        }
      }
      for (const stray of reported.keys()) {
        const row = await em.findOne(InstanceEntity, { where: { id: stray } });
        if (row?.deleted) {
          await enqueue(em, {
            type: 'compute.delete_instance',
            host: report.host,
            payload: { instance_id: stray },
          });
          cleanups++;
        } else if (!row) {
          this.deps.log.warn({ host: report.host, instance: stray }, 'unknown guest on host');
        }
      }
      return cleanups > 0;
    });
    if (queued) this.deps.relay.kick();
  }

  /** Consumes the api's instance-events queue until the subscription is cancelled. */
  subscribe(bus: Bus): Promise<Subscription> {
    const router = new MessageRouter()
      .on(instanceStateChanged, (envelope) => this.stateChanged(envelope.payload))
      // Sent before availability_zone (a subset of v3), or before the createImage task_states.
      .on(instanceStateChangedV2, (envelope) => this.stateChanged(envelope.payload))
      .on(instanceStateChangedV1, (envelope) => this.stateChanged(envelope.payload))
      .on(hostInstances, (envelope) => this.hostInstances(envelope.payload));
    return bus.consume(apiQueues.instanceEvents.queue, router.handler(), {
      bindings: apiQueues.instanceEvents.bindings,
    });
  }
}
