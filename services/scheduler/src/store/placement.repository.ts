/**
 * Placement persistence. Claims are atomic: on PostgreSQL each claim runs in a transaction
 * that locks the instance's scheduling row and the provider row (SELECT … FOR UPDATE; a
 * server group's claims also take a transaction-scoped advisory lock on the group, always
 * first, so lock order is group → request → provider and cannot deadlock), sums the
 * provider's allocations, checks used + request ≤ (total − reserved) × ratio per resource
 * class, and inserts the allocations. On SQLite, inTransaction runs transactions one at a time.
 */
import {
  inTransaction,
  oneTripTransaction,
  preparedStatement,
  type DataSource,
  type EntityManager,
} from '@strato/db';
import { RESOURCE_CLASSES, type Fault, type ResourceClass } from '@strato/contracts';
import { fits, type InventoryState, type Resources } from '../domain/model';
import {
  AllocationEntity,
  InventoryEntity,
  ResourceProviderEntity,
  SchedulingEntity,
  type ResourceProviderRow,
  type SchedulingRow,
} from './entities';

export interface ProviderReport {
  host: string;
  availabilityZone: string;
  hypervisorType: string;
  hypervisorVersion: number;
  hostIp: string;
  architecture: string;
  cpuInfo: string;
  capabilities: Record<string, string>;
  traits: string[];
  inventory: Partial<Record<ResourceClass, { total: number; reserved: number; allocationRatio: number }>>;
  reportedAt: string;
}

export interface ProviderSnapshot {
  row: ResourceProviderRow;
  inventory: Partial<Record<ResourceClass, InventoryState>>;
  instanceCount: number;
}

export type ClaimResult =
  | { ok: true }
  /** Lost a race or the host cannot take it now: try the next candidate. */
  | { ok: false; reason: 'capacity' | 'disabled' | 'group' | 'gone' }
  /** The request moved on (deleted, or another attempt owns it): stop scheduling it. */
  | { ok: false; reason: 'stale' };

export type Admission =
  | { action: 'schedule'; row: SchedulingRow }
  | { action: 'resend-build'; row: SchedulingRow }
  | { action: 'resend-error'; row: SchedulingRow }
  | { action: 'drop'; why: string };

export type BuildFailure =
  | { outcome: 'reschedule'; row: SchedulingRow }
  | { outcome: 'exhausted'; row: SchedulingRow }
  | { outcome: 'ignored'; why: string };

const now = () => new Date().toISOString();
const json = <T>(text: string | null | undefined, fallback: T): T => {
  if (!text) return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
};

/** A schedule request as admit() records it. */
export interface AdmitRequest {
  instanceId: string;
  attempt: number;
  serverGroupId: string | null;
  excludedHosts: string[];
  body: string;
}

function freshRequest(request: AdmitRequest): SchedulingRow {
  return {
    instance_id: request.instanceId,
    status: 'scheduling',
    attempt: request.attempt,
    host: null,
    server_group_id: request.serverGroupId,
    request: request.body,
    excluded_hosts: JSON.stringify(request.excludedHosts),
    fault: null,
    updated_at: now(),
  };
}

/** A schedule request's columns, with their PostgreSQL types (for the prepared INSERT). */
const FRESH_COLUMNS = {
  instance_id: 'varchar',
  status: 'varchar',
  attempt: 'integer',
  host: 'varchar',
  server_group_id: 'varchar',
  request: 'text',
  excluded_hosts: 'text',
  fault: 'text',
  updated_at: 'varchar',
} as const satisfies Record<keyof SchedulingRow, string>;
const FRESH_NAMES = Object.keys(FRESH_COLUMNS) as (keyof SchedulingRow)[];

/** The INSERT of a first schedule request (none when a row is there), `value` writing each placeholder. */
const insertFreshRequest = (value: (column: string, i: number) => string) =>
  `INSERT INTO scheduling_requests (${FRESH_NAMES.join(', ')})
   VALUES (${FRESH_NAMES.map(value).join(', ')}) ON CONFLICT (instance_id) DO NOTHING`;

const INSERT_FRESH_REQUEST = insertFreshRequest((column) => `:${column}`);

/*
 * The statements of a claim's one round trip on PostgreSQL, prepared once per connection:
 * with its values inlined, the decision alone took ~1.5 ms to parse and plan on each claim,
 * more than it took to run.
 */
const ADMIT_IN_TRIP = preparedStatement(
  'scheduler_admit',
  Object.values(FRESH_COLUMNS),
  insertFreshRequest((_, i) => `$${i + 1}`),
);

const LOCK_REQUEST = preparedStatement(
  'scheduler_lock_request',
  ['varchar'],
  'SELECT 1 FROM scheduling_requests WHERE instance_id = $1 FOR UPDATE',
);

const LOCK_PROVIDER = preparedStatement(
  'scheduler_lock_provider',
  ['varchar'],
  'SELECT 1 FROM resource_providers WHERE host = $1 FOR UPDATE',
);

/**
 * The claim's decision, taken with a snapshot after both row locks (so it counts every
 * allocation committed before), and its writes, made only when the verdict is ok: the
 * consumer's other allocations cleared, the provider's generation bumped, the request marked
 * building, the new allocations written. $1 instance, $2 attempt, $3 host, $4 the time, then
 * the amount of each resource class in RESOURCE_CLASSES' order (0: not wanted).
 */
const DECIDE_CLAIM = (() => {
  const ok = `(SELECT verdict FROM verdict) = 'ok'`;
  // The class names are the contract's constants, written as literals.
  const classes = RESOURCE_CLASSES.map((rc, i) => `(CAST('${rc}' AS varchar), $${i + 5})`);
  return preparedStatement(
    'scheduler_decide_claim',
    ['varchar', 'integer', 'varchar', 'varchar', ...RESOURCE_CLASSES.map(() => 'integer')],
    `WITH wanted (resource_class, amount) AS (
            SELECT resource_class, amount FROM (VALUES ${classes.join(', ')}) w (resource_class, amount)
             WHERE amount > 0),
          req AS (SELECT status, attempt FROM scheduling_requests WHERE instance_id = $1),
          prov AS (SELECT id, enabled, forced_down FROM resource_providers WHERE host = $3),
          short AS (
            SELECT w.resource_class FROM wanted w
              LEFT JOIN inventories i ON i.provider_id = (SELECT id FROM prov) AND i.resource_class = w.resource_class
             WHERE i.provider_id IS NULL
                OR (SELECT COALESCE(SUM(a.used), 0) FROM allocations a
                     WHERE a.provider_id = i.provider_id AND a.resource_class = i.resource_class
                       AND a.consumer_id <> $1) + w.amount
                   > GREATEST(0, (i.total - i.reserved) * i.allocation_ratio) + 1e-9),
          verdict AS (
            SELECT CASE
              WHEN NOT EXISTS (SELECT 1 FROM req WHERE status = 'scheduling' AND attempt = $2) THEN 'stale'
              WHEN NOT EXISTS (SELECT 1 FROM prov) THEN 'gone'
              WHEN NOT (SELECT enabled FROM prov) OR (SELECT forced_down FROM prov) THEN 'disabled'
              WHEN EXISTS (SELECT 1 FROM short) THEN 'capacity'
              ELSE 'ok' END AS verdict),
          cleared AS (
            DELETE FROM allocations WHERE consumer_id = $1 AND ${ok}
               AND NOT (provider_id = (SELECT id FROM prov) AND resource_class IN (SELECT resource_class FROM wanted))),
          bumped AS (UPDATE resource_providers SET generation = generation + 1 WHERE host = $3 AND ${ok}),
          marked AS (
            UPDATE scheduling_requests SET status = 'building', host = $3, updated_at = $4
             WHERE instance_id = $1 AND ${ok}),
          added AS (
            INSERT INTO allocations (consumer_id, provider_id, resource_class, used)
            SELECT $1, (SELECT id FROM prov), resource_class, amount FROM wanted WHERE ${ok}
            ON CONFLICT (consumer_id, provider_id, resource_class) DO UPDATE SET used = EXCLUDED.used)
     SELECT verdict FROM verdict`,
  );
})();

export class PlacementRepository {
  private readonly postgres: boolean;

  constructor(private readonly ds: DataSource) {
    this.postgres = ds.options.type === 'postgres';
  }

  private tx<T>(fn: (em: EntityManager) => Promise<T>): Promise<T> {
    return inTransaction(this.ds, fn);
  }

  // ---- providers ---------------------------------------------------------------------------

  /** Registers or updates a host from its report; older reports than the stored one are ignored. */
  async applyReport(report: ProviderReport): Promise<'created' | 'updated' | 'stale'> {
    return this.tx(async (em) => {
      const providers = em.getRepository(ResourceProviderEntity);
      let row = await this.lockProvider(em, report.host);
      const fields = {
        availability_zone: report.availabilityZone,
        hypervisor_type: report.hypervisorType,
        hypervisor_version: report.hypervisorVersion,
        host_ip: report.hostIp,
        architecture: report.architecture,
        cpu_info: report.cpuInfo,
        capabilities: JSON.stringify(report.capabilities),
        traits: JSON.stringify(report.traits),
        reported_at: report.reportedAt,
      };
      let created = false;
      if (!row) {
        await providers.insert({
          host: report.host,
          enabled: true,
          disabled_reason: null,
          forced_down: false,
          generation: 0,
          created_at: now(),
          ...fields,
        });
        row = await providers.findOneByOrFail({ host: report.host });
        created = true;
      } else if (row.reported_at > report.reportedAt) {
        return 'stale';
      }
      const inventories = em.getRepository(InventoryEntity);
      const current = await inventories.findBy({ provider_id: row.id });
      let changed = false;
      for (const rc of RESOURCE_CLASSES) {
        const want = report.inventory[rc];
        const have = current.find((i) => i.resource_class === rc);
        if (!want) {
          if (have) {
            await inventories.delete({ provider_id: row.id, resource_class: rc });
            changed = true;
          }
          continue;
        }
        const next = {
          provider_id: row.id,
          resource_class: rc,
          total: want.total,
          reserved: want.reserved,
          allocation_ratio: want.allocationRatio,
        };
        if (!have) {
          await inventories.insert(next);
          changed = true;
        } else if (
          have.total !== want.total ||
          have.reserved !== want.reserved ||
          Number(have.allocation_ratio) !== want.allocationRatio
        ) {
          await inventories.update({ provider_id: row.id, resource_class: rc }, next);
          changed = true;
        }
      }
      await providers.update(
        { id: row.id },
        { ...fields, ...(changed && !created ? { generation: row.generation + 1 } : {}) },
      );
      return created ? 'created' : 'updated';
    });
  }

  async setEnabled(host: string, enabled: boolean, reason: string | null): Promise<boolean> {
    const result = await this.ds
      .getRepository(ResourceProviderEntity)
      .update({ host }, { enabled, disabled_reason: enabled ? null : reason });
    return (result.affected ?? 0) > 0;
  }

  async setForcedDown(host: string, forcedDown: boolean): Promise<boolean> {
    const result = await this.ds
      .getRepository(ResourceProviderEntity)
      .update({ host }, { forced_down: forcedDown });
    return (result.affected ?? 0) > 0;
  }

  /** Every provider with inventories, usage and instance counts (no locks: a hint for filtering). */
  async snapshot(host?: string): Promise<ProviderSnapshot[]> {
    const providers = await this.ds
      .getRepository(ResourceProviderEntity)
      .find({ where: host ? { host } : {}, order: { id: 'ASC' } });
    if (providers.length === 0) return [];
    const [inventories, usage, counts] = await Promise.all([
      this.ds.getRepository(InventoryEntity).find(),
      this.ds
        .getRepository(AllocationEntity)
        .createQueryBuilder('a')
        .select('a.provider_id', 'provider_id')
        .addSelect('a.resource_class', 'resource_class')
        .addSelect('SUM(a.used)', 'used')
        .groupBy('a.provider_id')
        .addGroupBy('a.resource_class')
        .getRawMany<{ provider_id: number; resource_class: string; used: string | number }>(),
      this.ds
        .getRepository(AllocationEntity)
        .createQueryBuilder('a')
        .select('a.provider_id', 'provider_id')
        .addSelect('COUNT(DISTINCT a.consumer_id)', 'n')
        .groupBy('a.provider_id')
        .getRawMany<{ provider_id: number; n: string | number }>(),
    ]);
    return providers.map((row) => {
      const inventory: Partial<Record<ResourceClass, InventoryState>> = {};
      for (const inv of inventories) {
        if (inv.provider_id !== row.id) continue;
        const used = usage.find(
          (u) => Number(u.provider_id) === row.id && u.resource_class === inv.resource_class,
        );
        inventory[inv.resource_class as ResourceClass] = {
          total: inv.total,
          reserved: inv.reserved,
          allocationRatio: Number(inv.allocation_ratio),
          used: Number(used?.used ?? 0),
        };
      }
      const count = counts.find((c) => Number(c.provider_id) === row.id);
      return { row, inventory, instanceCount: Number(count?.n ?? 0) };
    });
  }

  /** Hosts of a server group's other members that hold or are building on a host. */
  async groupHosts(groupId: string, exceptInstance: string, em: EntityManager = this.ds.manager) {
    const rows = await em
      .getRepository(SchedulingEntity)
      .createQueryBuilder('s')
      .select('DISTINCT s.host', 'host')
      .where('s.server_group_id = :groupId', { groupId })
      .andWhere('s.instance_id != :exceptInstance', { exceptInstance })
      .andWhere('s.status IN (:...statuses)', { statuses: ['building', 'active'] })
      .andWhere('s.host IS NOT NULL')
      .getRawMany<{ host: string }>();
    return rows.map((r) => r.host);
  }

  // ---- scheduling requests -----------------------------------------------------------------

  getRequest(instanceId: string): Promise<SchedulingRow | null> {
    return this.ds.getRepository(SchedulingEntity).findOneBy({ instance_id: instanceId });
  }

  /**
   * Records a schedule request and says what to do with it, idempotently by (instance, attempt):
   * a redelivery of a request already placed re-sends the build; one already failed re-sends
   * the error; a request for a deleted instance or an older attempt is dropped.
   */
  async admit(request: AdmitRequest): Promise<Admission> {
    const fresh = freshRequest(request);
    // The usual case, a first request: one statement. A row already there (a redelivery, a
    // reschedule) is decided below under its lock.
    const inserted = await this.returning(this.ds.manager, `${INSERT_FRESH_REQUEST} RETURNING instance_id`, {
      ...fresh,
    });
    if (inserted.length > 0) return { action: 'schedule', row: fresh };
    return this.tx(async (em) => {
      const repo = em.getRepository(SchedulingEntity);
      const row = await this.lockRequest(em, request.instanceId);
      if (!row) {
        await repo.insert(fresh);
        return { action: 'schedule', row: fresh };
      }
      if (row.status === 'deleted') return { action: 'drop', why: 'the instance was deleted' };
      if (row.attempt > request.attempt)
        return { action: 'drop', why: `attempt ${row.attempt} supersedes it` };
      if (row.attempt === request.attempt) {
        switch (row.status) {
          case 'scheduling':
            return { action: 'schedule', row };
          case 'building':
            return { action: 'resend-build', row };
          case 'error':
            return { action: 'resend-error', row };
          case 'active':
            return { action: 'drop', why: 'already built' };
        }
      }
      const excluded = [...new Set([...json<string[]>(row.excluded_hosts, []), ...request.excludedHosts])];
      const next: SchedulingRow = {
        ...row,
        status: 'scheduling',
        attempt: request.attempt,
        host: null,
        server_group_id: request.serverGroupId,
        request: request.body,
        excluded_hosts: JSON.stringify(excluded),
        fault: null,
        updated_at: now(),
      };
      await em.getRepository(AllocationEntity).delete({ consumer_id: request.instanceId });
      await repo.update({ instance_id: request.instanceId }, next);
      return { action: 'schedule', row: next };
    });
  }

  /**
   * Whether claim() can also record a first schedule request (`admit`) in its round trip:
   * on PostgreSQL, for claims outside server groups.
   */
  get claimAdmits(): boolean {
    return this.postgres;
  }

  /**
   * Atomically claims `resources` on `host` for the instance's current attempt. With `admit`
   * (only where claimAdmits), the request is first recorded as admit() records a first one,
   * in the same transaction; a request already recorded is left as it is, and the claim then
   * says 'stale' unless that record is the same attempt still being scheduled.
   */
  claim(input: {
    instanceId: string;
    attempt: number;
    host: string;
    resources: Resources;
    group: { id: string; policy: string; hosts: ReadonlySet<string> } | null;
    admit?: AdmitRequest;
  }): Promise<ClaimResult> {
    if (input.admit && (!this.claimAdmits || input.group)) {
      throw new Error('claim: admit is only taken on PostgreSQL, outside server groups');
    }
    if (this.postgres && !input.group) return this.claimInOneTrip(input);
    return this.tx(async (em): Promise<ClaimResult> => {
      if (input.group && this.postgres) {
        await em.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`server-group:${input.group.id}`]);
      }
      const request = await this.lockRequest(em, input.instanceId);
      if (!request || request.status !== 'scheduling' || request.attempt !== input.attempt) {
        return { ok: false, reason: 'stale' };
      }
      if (input.group && (input.group.policy === 'affinity' || input.group.policy === 'anti-affinity')) {
        const taken = new Set([
          ...input.group.hosts,
          ...(await this.groupHosts(input.group.id, input.instanceId, em)),
        ]);
        const ok =
          input.group.policy === 'anti-affinity'
            ? !taken.has(input.host)
            : taken.size === 0 || taken.has(input.host);
        if (!ok) return { ok: false, reason: 'group' };
      }
      const provider = await this.lockProvider(em, input.host);
      if (!provider) return { ok: false, reason: 'gone' };
      // A host forced down takes nothing new either, whatever a scheduler's view still says.
      if (!provider.enabled || provider.forced_down) return { ok: false, reason: 'disabled' };

      // Inventories and what others hold of them, read after the provider lock (one statement).
      const inventories = await this.returning(
        em,
        `SELECT i.resource_class, i.total, i.reserved, i.allocation_ratio,
                (SELECT COALESCE(SUM(a.used), 0) FROM allocations a
                  WHERE a.provider_id = i.provider_id AND a.resource_class = i.resource_class
                    AND a.consumer_id != :consumer) AS used
           FROM inventories i WHERE i.provider_id = :id`,
        { id: provider.id, consumer: input.instanceId },
      );
      for (const rc of RESOURCE_CLASSES) {
        const inv = inventories.find((i) => i.resource_class === rc);
        const state: InventoryState | undefined = inv && {
          total: Number(inv.total),
          reserved: Number(inv.reserved),
          allocationRatio: Number(inv.allocation_ratio),
          used: Number(inv.used),
        };
        if (!fits(state, input.resources[rc])) return { ok: false, reason: 'capacity' };
      }
      const rows = RESOURCE_CLASSES.filter((rc) => input.resources[rc] > 0).map((rc) => ({
        consumer_id: input.instanceId,
        provider_id: provider.id,
        resource_class: rc,
        used: input.resources[rc],
      }));
      const marks = { id: provider.id, instanceId: input.instanceId, host: input.host, at: now() };
      if (this.postgres) {
        // Clear the consumer's old allocations, bump the generation, mark the request: one statement.
        await this.returning(
          em,
          `WITH cleared AS (DELETE FROM allocations WHERE consumer_id = :instanceId),
                bumped AS (UPDATE resource_providers SET generation = generation + 1 WHERE id = :id)
           UPDATE scheduling_requests SET status = 'building', host = :host, updated_at = :at
            WHERE instance_id = :instanceId`,
          marks,
        );
      } else {
        await em.getRepository(AllocationEntity).delete({ consumer_id: input.instanceId });
        await em
          .getRepository(ResourceProviderEntity)
          .update({ id: provider.id }, { generation: provider.generation + 1 });
        await em
          .getRepository(SchedulingEntity)
          .update(
            { instance_id: input.instanceId },
            { status: 'building', host: input.host, updated_at: marks.at },
          );
      }
      if (rows.length > 0) await em.getRepository(AllocationEntity).insert(rows);
      return { ok: true };
    });
  }

  /**
   * The claim of an instance outside any server group on PostgreSQL, in one round trip:
   * BEGIN, the request's and the provider's row locks (in that order, as every claim takes
   * them), then DECIDE_CLAIM, which decides and writes only when the verdict is ok; then
   * COMMIT. Each statement is prepared, so the trip carries only their names and values.
   */
  private async claimInOneTrip(input: {
    instanceId: string;
    attempt: number;
    host: string;
    resources: Resources;
    admit?: AdmitRequest;
  }): Promise<ClaimResult> {
    const results = await oneTripTransaction(this.ds, (_, execute) => {
      const statements: string[] = [];
      if (input.admit) {
        const fresh = freshRequest(input.admit);
        statements.push(
          execute(
            ADMIT_IN_TRIP,
            FRESH_NAMES.map((column) => fresh[column]),
          ),
        );
      }
      statements.push(
        execute(LOCK_REQUEST, [input.instanceId]),
        execute(LOCK_PROVIDER, [input.host]),
        execute(DECIDE_CLAIM, [
          input.instanceId,
          input.attempt,
          input.host,
          now(),
          ...RESOURCE_CLASSES.map((rc) => input.resources[rc]),
        ]),
      );
      return statements;
    });
    const verdict = results.at(-1)![0]!.verdict as 'ok' | 'stale' | 'gone' | 'disabled' | 'capacity';
    return verdict === 'ok' ? { ok: true } : { ok: false, reason: verdict };
  }

  /** Undoes a claim whose build could not be sent: back to scheduling, to be tried again. */
  unclaim(instanceId: string, attempt: number, host: string): Promise<boolean> {
    return this.tx(async (em) => {
      const row = await this.lockRequest(em, instanceId);
      if (!row || row.status !== 'building' || row.attempt !== attempt || row.host !== host) return false;
      await em.getRepository(AllocationEntity).delete({ consumer_id: instanceId });
      await em
        .getRepository(SchedulingEntity)
        .update({ instance_id: instanceId }, { status: 'scheduling', host: null, updated_at: now() });
      return true;
    });
  }

  /** Puts a request still being scheduled into error with its fault. */
  markError(instanceId: string, attempt: number, fault: Fault): Promise<boolean> {
    return this.tx(async (em) => {
      const row = await this.lockRequest(em, instanceId);
      if (!row || row.status !== 'scheduling' || row.attempt !== attempt) return false;
      await em.getRepository(AllocationEntity).delete({ consumer_id: instanceId });
      await em
        .getRepository(SchedulingEntity)
        .update(
          { instance_id: instanceId },
          { status: 'error', fault: JSON.stringify(fault), updated_at: now() },
        );
      return true;
    });
  }

  /**
   * A build on `host` failed (reported by the agent, or the agent went silent): frees the
   * claim and either moves the request to the next attempt (host excluded) or, past
   * maxAttempts, into error. Only the build that is current (status building, same host and
   * attempt) is affected, so duplicates and late reports are ignored.
   */
  failBuild(input: {
    instanceId: string;
    host: string;
    attempt: number;
    maxAttempts: number;
    fault: Fault;
  }): Promise<BuildFailure> {
    return this.tx(async (em): Promise<BuildFailure> => {
      const row = await this.lockRequest(em, input.instanceId);
      if (!row) return { outcome: 'ignored', why: 'unknown instance' };
      if (row.status !== 'building' || row.host !== input.host || row.attempt !== input.attempt) {
        return {
          outcome: 'ignored',
          why: `request is ${row.status} on ${row.host ?? '-'} attempt ${row.attempt}`,
        };
      }
      await em.getRepository(AllocationEntity).delete({ consumer_id: input.instanceId });
      const excluded = [...new Set([...json<string[]>(row.excluded_hosts, []), input.host])];
      const repo = em.getRepository(SchedulingEntity);
      if (row.attempt >= input.maxAttempts) {
        const next: SchedulingRow = {
          ...row,
          status: 'error',
          excluded_hosts: JSON.stringify(excluded),
          fault: JSON.stringify(input.fault),
          updated_at: now(),
        };
        await repo.update({ instance_id: row.instance_id }, next);
        return { outcome: 'exhausted', row: next };
      }
      const next: SchedulingRow = {
        ...row,
        status: 'scheduling',
        attempt: row.attempt + 1,
        host: null,
        excluded_hosts: JSON.stringify(excluded),
        updated_at: now(),
      };
      await repo.update({ instance_id: row.instance_id }, next);
      return { outcome: 'reschedule', row: next };
    });
  }

  /**
   * The build on `host` finished: building → active, in one guarded statement. Returns the row
   * as it is then (active, or whatever state made the guard refuse).
   */
  async markBuilt(instanceId: string, host: string, attempt: number | null): Promise<SchedulingRow | null> {
    const updated = await this.returning(
      this.ds.manager,
      `UPDATE scheduling_requests SET status = 'active', updated_at = :at
        WHERE instance_id = :instanceId AND status = 'building' AND host = :host
        ${attempt === null ? '' : 'AND attempt = :attempt'}
        RETURNING *`,
      { at: now(), instanceId, host, attempt },
    );
    if (updated.length > 0) return updated[0] as unknown as SchedulingRow;
    return this.getRequest(instanceId);
  }

  /** The agent destroyed the guest on `host`: its allocations there are free. */
  freeOnHost(instanceId: string, host: string): Promise<void> {
    return this.tx(async (em) => {
      const provider = await em.getRepository(ResourceProviderEntity).findOneBy({ host });
      if (provider) {
        await em
          .getRepository(AllocationEntity)
          .delete({ consumer_id: instanceId, provider_id: provider.id });
      }
      const row = await this.lockRequest(em, instanceId);
      if (row && row.host === host && row.status !== 'deleted') {
        await em
          .getRepository(SchedulingEntity)
          .update({ instance_id: instanceId }, { status: 'deleted', updated_at: now() });
      }
    });
  }

  /**
   * The instance is deleted: frees all its allocations and leaves a tombstone so a schedule
   * request still in flight is dropped. Returns the row as it was.
   */
  release(instanceId: string): Promise<SchedulingRow | null> {
    return this.tx(async (em) => {
      const row = await this.lockRequest(em, instanceId);
      await em.getRepository(AllocationEntity).delete({ consumer_id: instanceId });
      const repo = em.getRepository(SchedulingEntity);
      if (!row) {
        await repo.insert({
          instance_id: instanceId,
          status: 'deleted',
          attempt: 1,
          host: null,
          server_group_id: null,
          request: '',
          excluded_hosts: '[]',
          fault: null,
          updated_at: now(),
        });
        return null;
      }
      if (row.status !== 'deleted') {
        await repo.update({ instance_id: instanceId }, { status: 'deleted', updated_at: now() });
      }
      return row;
    });
  }

  /** Builds under way, for the heartbeat sweeper. */
  async building(): Promise<Pick<SchedulingRow, 'instance_id' | 'host' | 'attempt'>[]> {
    return this.ds
      .getRepository(SchedulingEntity)
      .find({ where: { status: 'building' }, select: { instance_id: true, host: true, attempt: true } });
  }

  async allocationsOf(instanceId: string) {
    return this.ds.getRepository(AllocationEntity).findBy({ consumer_id: instanceId });
  }

  // ---- locking -----------------------------------------------------------------------------

  /**
   * Runs one SQL statement with :named parameters and returns the rows it returned (a SELECT,
   * or RETURNING), whichever driver runs it.
   */
  private async returning(
    em: EntityManager,
    sql: string,
    named: Record<string, unknown>,
  ): Promise<Record<string, unknown>[]> {
    const [text, params] = em.connection.driver.escapeQueryWithParameters(sql, named);
    const result: unknown = await em.query(text, params);
    // typeorm's PostgreSQL runner answers UPDATE and DELETE with [rows, rowCount].
    if (
      Array.isArray(result) &&
      result.length === 2 &&
      Array.isArray(result[0]) &&
      typeof result[1] === 'number'
    ) {
      return result[0] as Record<string, unknown>[];
    }
    return Array.isArray(result) ? (result as Record<string, unknown>[]) : [];
  }

  private lockRequest(em: EntityManager, instanceId: string): Promise<SchedulingRow | null> {
    return em.getRepository(SchedulingEntity).findOne({
      where: { instance_id: instanceId },
      ...(this.postgres ? { lock: { mode: 'pessimistic_write' as const } } : {}),
    });
  }

  private lockProvider(em: EntityManager, host: string): Promise<ResourceProviderRow | null> {
    return em.getRepository(ResourceProviderEntity).findOne({
      where: { host },
      ...(this.postgres ? { lock: { mode: 'pessimistic_write' as const } } : {}),
    });
  }
}

export function parseJson<T>(text: string | null | undefined, fallback: T): T {
  return json(text, fallback);
}
