/**
 * Servers: the boot request (validated, quota-checked, written with its schedule message in
 * one transaction), reads with Nova's filters and paging, and the actions, each of which
 * changes the instance's task_state and queues its message to the host in one transaction.
 */
import { randomInt, randomUUID } from 'node:crypto';
import type { Bus } from '@strato/bus';
import { ComputeClient } from '@strato/contracts';
import {
  inTransaction,
  insertStatement,
  oneTripTransaction,
  pipelinedTransaction,
  propertyRow,
  selectProperties,
  type DataSource,
  type EntityManager,
} from '@strato/db';
import { AppError, conflict, invalid, notFound } from '@strato/errors';
import { currentRequestId, newRequestId, type Logger } from '@strato/log';
import type { Caller } from './domain/caller';
import { ACTION_TASK_STATE, assertActionAllowed, type InstanceAction } from './domain/instance-state';
import {
  QUOTA_RESOURCES,
  assertWithin,
  instancesAllowed,
  type InstanceUsage,
  type QuotaLimits,
} from './domain/quota';
import { matchesStatus, NAME_FLAGS, type ServerQuery } from './domain/server-query';
import { RegexTimeout, RegexWorker } from './domain/regex-worker';
import type { ImageAuth, ImageLookup } from './domain/ports';
import type { CachedHostList } from './adapters/host-directory.scheduler';
import type { FlavorService } from './flavor.service';
import { enqueue, outboxRow, type OutboxRelay, type SchedulePayload } from './outbox.relay';
import { forUpdate } from './store/locks';
import { QuotaService } from './quota.service';
import {
  InstanceEntity,
  KeypairEntity,
  OutboxEntity,
  QUOTA_GUARD_MESSAGE,
  ServerGroupEntity,
  type InstanceRow,
  type OutboxRow,
} from './store';

export interface NewServer {
  name: string;
  flavorRef: string;
  imageRef: string;
  metadata: Record<string, string>;
  keyName: string | null;
  availabilityZone: string | null;
  minCount: number;
  maxCount: number;
  userData: string | null;
  description: string | null;
  tags: string[];
  groupId: string | null;
  accessIPv4: string;
  accessIPv6: string;
  configDrive: boolean;
  adminPass: string | null;
}

export interface CreatedServers {
  instances: InstanceRow[];
  adminPass: string;
  reservationId: string;
}

/** The caller as the image service sees it: its own token, project and admin role. */
const imageAuth = (caller: Caller): ImageAuth => ({
  token: caller.token,
  projectId: caller.projectId,
  admin: caller.admin,
});

export const instanceNotFound = (id: string) => notFound(`Instance ${id} could not be found.`);

/** createImage's request: the image's name and extra properties. */
export interface NewSnapshot {
  name: string;
  metadata: Record<string, string>;
}

/**
 * Properties a snapshot does not inherit from the image its server booted from (Nova's
 * non-inheritable ones, plus what describes the source file itself rather than the guest).
 */
const NOT_INHERITED = new Set([
  'img_signature',
  'img_signature_hash_method',
  'img_signature_key_type',
  'img_signature_certificate_uuid',
  'cache_in_nova',
  'bittorrent',
  'stores',
]);
const NOT_INHERITED_PREFIXES = ['os_glance', 'owner_specified.'];

function inheritable(properties: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(properties).filter(
      ([key]) => !NOT_INHERITED.has(key) && !NOT_INHERITED_PREFIXES.some((p) => key.startsWith(p)),
    ),
  );
}

/** A DNS label from a display name (Nova's hostname sanitisation, simplified). */
export function hostnameFrom(name: string): string {
  const label = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return label || 'server';
}

/** A generated adminPass: every character drawn uniformly (randomInt, no modulo bias). */
function password(length = 12): string {
  const alphabet = 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

const BATCH = 500;

/** Limits that refuse nothing: the one-trip admission's first pass (the guard has the last word). */
const UNLIMITED = Object.fromEntries(QUOTA_RESOURCES.map((r) => [r, -1])) as QuotaLimits;

function isQuotaGuard(err: unknown): boolean {
  return (
    err instanceof Error &&
    (err as { code?: unknown }).code === 'P0001' &&
    err.message === QUOTA_GUARD_MESSAGE
  );
}

type AdmissionWork = (
  em: EntityManager,
  limits: QuotaLimits,
  usage: InstanceUsage,
  writes: PendingWrites,
) => Promise<InstanceRow[]>;

/**
 * Inserts of a batch of boots, made together: one multi-row INSERT of instances and one of
 * outbox rows, instead of two statements per boot (on PostgreSQL both go with the COMMIT in
 * one round trip). Rows are kept in order (instances before the outbox rows that announce
 * them, as the relay reads the outbox in order).
 */
class PendingWrites {
  private instances: Omit<InstanceRow, 'seq'>[] = [];
  private messages: Omit<OutboxRow, 'seq'>[] = [];
  /** The outbox rows of the last take (see written). */
  private taken: Omit<OutboxRow, 'seq'>[] = [];
  /** The outbox rows flush wrote, with their seqs. */
  private readonly wrote: OutboxRow[] = [];

  constructor(private readonly em: EntityManager) {}

  /** Queues an instance row; its seq is not known until flushed (0 until then, unused by callers). */
  instance(row: Omit<InstanceRow, 'seq'>): InstanceRow {
    this.instances.push(row);
    return { ...row, seq: 0 };
  }

  outbox(row: Omit<OutboxRow, 'seq'>): void {
    this.messages.push(row);
  }

  /**
   * The pending inserts as SQL with the driver's placeholders (instances first, then the
   * outbox rows, returning their seq and id), forgotten here; the outbox rows are kept for
   * written() until the next take.
   */
  take(): [string, unknown[]][] {
    const [instances, messages] = [this.instances, this.messages];
    this.instances = [];
    this.messages = [];
    this.taken = messages;
    const statements: [string, unknown[]][] = [];
    const ds = this.em.connection;
    if (instances.length > 0) statements.push(insertStatement(ds, InstanceEntity, instances));
    if (messages.length > 0) {
      statements.push(insertStatement(ds, OutboxEntity, messages, { returning: ['seq', 'id'] }));
    }
    return statements;
  }

  /** The outbox rows of the last take, complete with the seqs their INSERT returned. */
  written(returned: readonly Record<string, unknown>[]): OutboxRow[] {
    const seqs = new Map(returned.map((r) => [r.id as string, Number(r.seq)]));
    return this.taken.flatMap((m) => {
      const seq = seqs.get(m.id);
      return seq === undefined ? [] : [{ ...m, seq }];
    });
  }

  /**
   * Runs the pending inserts now, in the caller's transaction; the outbox rows they wrote are
   * kept, with their seqs, for `flushed`.
   */
  async flush(): Promise<void> {
    const statements = this.take();
    for (const [i, [sql, params]] of statements.entries()) {
      const result = await this.em.query<Record<string, unknown>[]>(sql, params);
      // The outbox INSERT, when there is one, is the last statement and returns seq and id.
      if (i === statements.length - 1 && this.taken.length > 0) this.wrote.push(...this.written(result));
    }
  }

  /** The outbox rows every flush so far wrote (to hand to the relay once committed). */
  flushed(): OutboxRow[] {
    return this.wrote;
  }
}

interface Admission {
  work: AdmissionWork;
  /**
   * May be admitted in one round trip, written first and checked by the quota guard: its
   * checks depend on the limits only through instances, cores, ram and metadata_items
   * (no server group, which reads the database in between).
   */
  guarded: { metadataItems: number } | null;
  resolve: (rows: InstanceRow[]) => void;
  reject: (err: unknown) => void;
}

export class ServerService {
  /** Boots waiting for their project's next quota transaction (see admit). */
  private readonly lanes = new Map<string, Admission[]>();
  /** Runs the name filters of server lists (a worker thread, started at the first). */
  private readonly nameMatcher = new RegexWorker();

  constructor(
    private readonly deps: {
      db: DataSource;
      bus: Bus;
      images: ImageLookup;
      flavors: FlavorService;
      quotas: QuotaService;
      relay: OutboxRelay;
      hosts: CachedHostList;
      log: Logger;
      consoleTimeoutMs?: number;
      /** Told of every batch admitted, and which way (see admitInOneTrip). */
      onAdmitted?: (way: 'one-trip' | 'read-first', boots: number) => void;
    },
  ) {}

  async create(caller: Caller, input: NewServer): Promise<CreatedServers> {
    const flavor = await this.deps.flavors.get(caller, input.flavorRef).catch((err: unknown) => {
      if (err instanceof AppError && err.kind === 'NotFound') {
        throw invalid('Invalid flavorRef provided.');
      }
      throw err;
    });
    if (flavor.disabled) throw invalid(`Flavor ${flavor.id} is disabled.`);
    const image = await this.deps.images.get(input.imageRef, imageAuth(caller));
    // Nova's words for an image that is missing or not the caller's to use.
    if (!image) throw invalid('Can not find requested image');
    if (image.status !== 'active') throw invalid(`Image ${input.imageRef} is not active.`);
    if (image.min_ram_mb > flavor.ramMb) throw invalid("Flavor's memory is too small for requested image.");
    if (
      flavor.diskGb > 0 &&
      (image.min_disk_gb > flavor.diskGb || (image.size ?? 0) > flavor.diskGb * 1024 ** 3)
    ) {
      throw invalid("Flavor's disk is too small for requested image.");
    }
    await this.checkBootFiles(image.properties, caller);
    let keyData: string | null = null;
    if (input.keyName !== null) {
      const key = await this.deps.db
        .getRepository(KeypairEntity)
        .findOne({ where: { userId: caller.userId, name: input.keyName } });
      if (!key) throw invalid('Invalid key_name provided.');
      keyData = key.publicKey;
    }
    const { status: _status, ...imageSpec } = image;
    const adminPass = input.adminPass ?? password();
    // 32 random bits from the entropy randomUUID keeps in hand (randomBytes asks OpenSSL each time).
    const reservationId = `r-${randomUUID().slice(0, 8)}`;

    // Captured here: the batch this boot joins may run in another request's context.
    const requestId = currentRequestId() ?? newRequestId();
    const guarded = input.groupId ? null : { metadataItems: Object.keys(input.metadata).length };
    const instances = await this.admit(caller.projectId, guarded, async (em, limits, usage, writes) => {
      assertWithin('metadata_items', limits.metadata_items, 0, Object.keys(input.metadata).length);
      const count = instancesAllowed(limits, usage, flavor, input.minCount, input.maxCount);
      const group = input.groupId
        ? await this.groupFor(em, caller, input.groupId, count, limits.server_group_members, writes)
        : null;
      const now = new Date().toISOString();
      const rows: InstanceRow[] = [];
      for (let i = 0; i < count; i++) {
        const name = count > 1 ? `${input.name}-${i + 1}` : input.name;
        const row: Omit<InstanceRow, 'seq'> = {
          id: randomUUID(),
          projectId: caller.projectId,
          userId: caller.userId,
          name,
          description: input.description,
          hostname: count > 1 ? `${hostnameFrom(input.name)}-${i + 1}` : hostnameFrom(name),
          flavorId: flavor.id,
          vcpus: flavor.vcpus,
          ramMb: flavor.ramMb,
          diskGb: flavor.diskGb,
          flavor: {
            id: flavor.id,
            name: flavor.name,
            vcpus: flavor.vcpus,
            ramMb: flavor.ramMb,
            diskGb: flavor.diskGb,
            ephemeralGb: flavor.ephemeralGb,
            swapMb: flavor.swapMb,
            extraSpecs: flavor.extraSpecs,
          },
          imageId: image.id,
          keyName: input.keyName,
          keyData,
          userData: input.userData,
          metadata: input.metadata,
          tags: input.tags,
          availabilityZone: input.availabilityZone,
          serverGroupId: group?.id ?? null,
          host: null,
          vmState: 'building',
          taskState: 'scheduling',
          powerState: 0,
          fault: null,
          attempt: 1,
          lastEventAt: null,
          launchedAt: null,
          terminatedAt: null,
          createdAt: now,
          updatedAt: now,
          deletedAt: null,
          deleted: false,
          locked: false,
          reservationId,
          launchIndex: i,
          accessIpv4: input.accessIPv4,
          accessIpv6: input.accessIPv6,
          configDrive: input.configDrive ? 'True' : '',
        };
        rows.push(writes.instance(row));
        const payload: SchedulePayload = {
          instance_id: row.id,
          project_id: caller.projectId,
          user_id: caller.userId,
          display_name: name,
          flavor: {
            id: flavor.id,
            name: flavor.name,
            vcpus: flavor.vcpus,
            ram_mb: flavor.ramMb,
            disk_gb: flavor.diskGb,
            ephemeral_gb: flavor.ephemeralGb,
            swap_mb: flavor.swapMb,
            extra_specs: flavor.extraSpecs,
          },
          image: imageSpec,
          metadata: input.metadata,
          user_data: input.userData,
          key_data: keyData,
          key_name: input.keyName,
          availability_zone: input.availabilityZone,
          server_group: group,
          attempt: 1,
          excluded_hosts: [],
        };
        writes.outbox(outboxRow({ type: 'scheduler.schedule_instance', host: null, payload }, requestId));
      }
      usage.instances += count;
      usage.cores += count * flavor.vcpus;
      usage.ram += count * flavor.ramMb;
      return rows;
    });
    return { instances, adminPass, reservationId };
  }

  /**
   * The kernel and ramdisk an image names (kernel_id, ramdisk_id: direct kernel boot) must be
   * images the caller may use, active, of the right kind: the compute agent fetches them with its
   * own token, so this is where another project's private image is refused.
   */
  private async checkBootFiles(properties: Record<string, string>, caller: Caller): Promise<void> {
    const wanted = [
      ['kernel_id', 'aki'],
      ['ramdisk_id', 'ari'],
    ] as const;
    for (const [property, format] of wanted) {
      const id = properties[property];
      if (!id) continue;
      const file = await this.deps.images.get(id, imageAuth(caller));
      if (!file) throw invalid('Can not find requested image');
      if (file.status !== 'active') throw invalid(`Image ${id} is not active.`);
      if (file.disk_format !== format) {
        throw invalid(`Image ${id} named by ${property} is not an ${format} image.`);
      }
    }
  }

  /**
   * Runs a boot's quota check and inserts in a transaction serialised per project (the
   * project's advisory lock, taken by every quota-checked change). Boots of one project that
   * arrive while such a transaction runs wait here, in memory, and then go together in the
   * next one: one lock, one usage count and one commit for the lot, each boot checked against
   * the usage left by those before it. A boot's own refusal (an AppError from its checks,
   * thrown before it writes anything) fails only that boot; any other error fails the batch.
   */
  private admit(
    projectId: string,
    guarded: Admission['guarded'],
    work: AdmissionWork,
  ): Promise<InstanceRow[]> {
    return new Promise((resolve, reject) => {
      let lane = this.lanes.get(projectId);
      if (!lane) {
        lane = [];
        this.lanes.set(projectId, lane);
        void this.drain(projectId, lane);
      }
      lane.push({ work, guarded, resolve, reject });
    });
  }

  private async drain(projectId: string, lane: Admission[]): Promise<void> {
    // Let the boots that arrived in the same tick join the first batch.
    await Promise.resolve();
    while (lane.length > 0) {
      const batch = lane.splice(0);
      const outcomes: ({ rows: InstanceRow[] } | { err: unknown })[] = [];
      const admitAll = async (em: EntityManager, limits: QuotaLimits, usage: InstanceUsage) => {
        outcomes.length = 0;
        const writes = new PendingWrites(em);
        for (const admission of batch) {
          try {
            outcomes.push({ rows: await admission.work(em, limits, usage, writes) });
          } catch (err) {
            if (!(err instanceof AppError)) throw err;
            outcomes.push({ err });
          }
        }
        return writes;
      };
      try {
        let way: 'one-trip' | 'read-first' = 'read-first';
        // SQLite and the one-trip way hand their committed outbox rows to the relay; the
        // two-trip way leaves them to a pass that reads the table.
        if (this.deps.db.options.type !== 'postgres') {
          const writes = await inTransaction(this.deps.db, async (em) => {
            const { limits, usage } = await this.deps.quotas.limitsAndUsage(projectId, em);
            const pending = await admitAll(em, limits, usage);
            await pending.flush();
            return pending;
          });
          this.deps.relay.offer(writes.flushed());
        } else if (await this.admitInOneTrip(projectId, batch, admitAll, outcomes)) {
          way = 'one-trip';
        } else {
          // Two round trips: lock and read, then the inserts with COMMIT.
          await pipelinedTransaction(
            this.deps.db,
            (inline) => [
              inline('SELECT pg_advisory_xact_lock(hashtext($1))', [QuotaService.lockKey(projectId)]),
              inline(...this.deps.quotas.limitsAndUsageQuery(this.deps.db.manager, projectId)),
            ],
            async ([, quota], conn) => {
              const { limits, usage } = this.deps.quotas.parseLimitsAndUsage(quota!);
              const writes = await admitAll(conn.em, limits, usage);
              return { value: null, closing: writes.take().map(([sql, params]) => conn.inline(sql, params)) };
            },
          );
          this.deps.relay.kick();
        }
        this.deps.onAdmitted?.(way, batch.length);
        batch.forEach((a, i) => {
          const outcome = outcomes[i]!;
          if ('rows' in outcome) a.resolve(outcome.rows);
          else a.reject(outcome.err);
        });
      } catch (err) {
        for (const a of batch) a.reject(err);
      }
    }
    this.lanes.delete(projectId);
  }

  /**
   * The usual case on PostgreSQL, in one round trip: every boot of the batch is admitted as if
   * the project had no limits, its rows are written under the project's lock, and the quota
   * guard then counts the project's usage with them and raises if any limit is passed, which
   * rolls the lot back. Within the limits, the outcome is the one the read-first admission
   * gives (each boot gets its max_count, as the total fits); otherwise (false) nothing was
   * written and the caller admits the batch the read-first way, with Nova's exact refusals.
   */
  private async admitInOneTrip(
    projectId: string,
    batch: Admission[],
    admitAll: (em: EntityManager, limits: QuotaLimits, usage: InstanceUsage) => Promise<PendingWrites>,
    outcomes: readonly ({ rows: InstanceRow[] } | { err: unknown })[],
  ): Promise<boolean> {
    const guards = batch.map((a) => a.guarded);
    if (guards.some((g) => g === null)) return false;
    const db = this.deps.db;
    const writes = await admitAll(db.manager, UNLIMITED, { instances: 0, cores: 0, ram: 0 });
    if (outcomes.some((o) => 'err' in o)) return false;
    const metadataItems = Math.max(...guards.map((g) => g!.metadataItems));
    try {
      const results = await oneTripTransaction(db, (inline) => [
        inline('SELECT pg_advisory_xact_lock(hashtext($1))', [QuotaService.lockKey(projectId)]),
        ...writes.take().map(([sql, params]) => inline(sql, params)),
        inline(...this.deps.quotas.instanceGuardQuery(db.manager, projectId, metadataItems)),
      ]);
      // The outbox INSERT is the one before the guard: hand its committed rows to the relay.
      this.deps.relay.offer(writes.written(results[results.length - 2] ?? []));
      return true;
    } catch (err) {
      if (isQuotaGuard(err)) return false;
      throw err;
    }
  }

  private async groupFor(
    em: EntityManager,
    caller: Caller,
    groupId: string,
    adding: number,
    maxMembers: number,
    writes: PendingWrites,
  ): Promise<SchedulePayload['server_group']> {
    await writes.flush(); // members admitted earlier in this batch count too
    const group = await em.findOne(ServerGroupEntity, { where: { id: groupId } });
    if (!group || (group.projectId !== caller.projectId && !caller.admin)) {
      throw invalid(`Invalid server group ${groupId}: it could not be found.`);
    }
    const members = await em.find(InstanceEntity, { where: { serverGroupId: groupId, deleted: false } });
    if (maxMembers >= 0 && members.length + adding > maxMembers) {
      throw new AppError('QuotaExceeded', 'Quota exceeded, too many servers in group');
    }
    const hosts = [...new Set(members.map((m) => m.host).filter((h): h is string => h !== null))];
    return {
      id: group.id,
      policy: group.policy as NonNullable<SchedulePayload['server_group']>['policy'],
      hosts,
    };
  }

  /**
   * A live instance the caller may see (admins see every project's). Inside a transaction
   * (em given) the row is locked until it ends, as instance events lock it too.
   */
  async get(caller: Caller, id: string, em: EntityManager = this.deps.db.manager): Promise<InstanceRow> {
    const lock = em === this.deps.db.manager ? {} : forUpdate(em);
    const row = await em.findOne(InstanceEntity, { where: { id, deleted: false }, ...lock });
    if (!row || (row.projectId !== caller.projectId && !caller.admin)) throw instanceNotFound(id);
    return row;
  }

  async list(caller: Caller, q: ServerQuery): Promise<InstanceRow[]> {
    if (q.limit === 0 || (q.vmStates !== null && q.vmStates.length === 0)) return [];
    const repo = this.deps.db.getRepository(InstanceEntity);
    let cursor: number | null = null;
    if (q.marker !== null) {
      const marker = await repo.findOne({ where: { id: q.marker } });
      if (!marker || (marker.projectId !== caller.projectId && !caller.admin)) {
        throw invalid(`marker [${q.marker}] not found`);
      }
      cursor = marker.seq;
    }
    const out: InstanceRow[] = [];
    for (;;) {
      const qb = selectProperties(repo.createQueryBuilder('i'), this.deps.db, InstanceEntity, 'i');
      if (q.changesSince === null) qb.andWhere('i.deleted = :deleted', { deleted: false });
      else qb.andWhere('i.updatedAt >= :since', { since: q.changesSince });
      if (q.changesBefore !== null) qb.andWhere('i.updatedAt <= :before', { before: q.changesBefore });
      if (!q.allTenants) qb.andWhere('i.projectId = :project', { project: q.projectId ?? caller.projectId });
      else if (q.projectId !== null) qb.andWhere('i.projectId = :project', { project: q.projectId });
      if (q.vmStates !== null) qb.andWhere('i.vmState IN (:...vm)', { vm: q.vmStates });
      if (q.image !== null) qb.andWhere('i.imageId = :image', { image: q.image });
      if (q.flavor !== null) qb.andWhere('i.flavorId = :flavor', { flavor: q.flavor });
      if (cursor !== null) qb.andWhere('i.seq < :cursor', { cursor });
      const raw = await qb.orderBy('i.seq', 'DESC').limit(BATCH).getRawMany<Record<string, unknown>>();
      const batch = raw.map(this.instanceFromRaw());
      for (const row of q.name === null ? batch : await this.named(q.name, batch)) {
        if (!matchesStatus(q, row)) continue;
        out.push(row);
        if (out.length >= q.limit) return out;
      }
      if (batch.length < BATCH) return out;
      cursor = batch[batch.length - 1]!.seq;
    }
  }

  /** The live servers on each of the given hosts (admin: os-hypervisors/{pattern}/servers). */
  async onHosts(hosts: readonly string[]): Promise<Map<string, Array<{ name: string; uuid: string }>>> {
    const byHost = new Map<string, Array<{ name: string; uuid: string }>>(hosts.map((h) => [h, []]));
    if (hosts.length === 0) return byHost;
    const rows = await this.deps.db
      .getRepository(InstanceEntity)
      .createQueryBuilder('i')
      .select(['i.id', 'i.name', 'i.host'])
      .where('i.deleted = :deleted', { deleted: false })
      .andWhere('i.host IN (:...hosts)', { hosts: [...hosts] })
      .orderBy('i.seq', 'ASC')
      .getMany();
    for (const row of rows) byHost.get(row.host!)?.push({ name: row.name, uuid: row.id });
    return byHost;
  }

  /** The rows whose name the user's pattern matches, matched off the event loop. */
  private async named(pattern: string, rows: InstanceRow[]): Promise<InstanceRow[]> {
    const matches = await this.nameMatcher
      .test(
        pattern,
        NAME_FLAGS,
        rows.map((r) => r.name),
      )
      .catch((err: unknown) => {
        if (!(err instanceof RegexTimeout)) throw err;
        throw invalid(`Invalid input for query parameters name: matching took longer than ${err.ms} ms.`);
      });
    return rows.filter((_, i) => matches[i]);
  }

  private rawMapper: ((raw: Record<string, unknown>) => InstanceRow) | null = null;

  /**
   * Rows of a list straight from the raw result, selected under the entity's property names
   * and finished in place: the ORM's hydration cost more than the query.
   */
  private instanceFromRaw(): (raw: Record<string, unknown>) => InstanceRow {
    return (this.rawMapper ??= propertyRow(this.deps.db, InstanceEntity));
  }

  async update(
    caller: Caller,
    id: string,
    changes: { name?: string; description?: string | null; accessIPv4?: string; accessIPv6?: string },
  ): Promise<InstanceRow> {
    return inTransaction(this.deps.db, async (em) => {
      const row = await this.get(caller, id, em);
      const patch: Partial<InstanceRow> = { updatedAt: new Date().toISOString() };
      if (changes.name !== undefined) patch.name = changes.name;
      if (changes.description !== undefined) patch.description = changes.description;
      if (changes.accessIPv4 !== undefined) patch.accessIpv4 = changes.accessIPv4;
      if (changes.accessIPv6 !== undefined) patch.accessIpv6 = changes.accessIPv6;
      await em.update(InstanceEntity, { seq: row.seq }, patch);
      return { ...row, ...patch };
    });
  }

  /** Deletes a server: at once when it never reached a host (or its host is down), else via the host. */
  async delete(caller: Caller, id: string): Promise<void> {
    const peek = await this.get(caller, id);
    const hostDown = peek.host !== null && (await this.isHostDown(peek.host));
    await inTransaction(this.deps.db, async (em) => {
      const row = await this.get(caller, id, em);
      if (row.taskState === 'deleting' && !hostDown) return;
      const now = new Date().toISOString();
      if (row.host === null || hostDown) {
        await em.update(
          InstanceEntity,
          { seq: row.seq },
          {
            vmState: 'deleted',
            taskState: null,
            powerState: 0,
            deleted: true,
            deletedAt: now,
            updatedAt: now,
            terminatedAt: row.launchedAt ? now : row.terminatedAt,
          },
        );
        await enqueue(em, { type: 'scheduler.release_claim', host: null, payload: { instance_id: row.id } });
        return;
      }
      await em.update(InstanceEntity, { seq: row.seq }, { taskState: 'deleting', updatedAt: now });
      await enqueue(em, {
        type: 'compute.delete_instance',
        host: row.host,
        payload: { instance_id: row.id },
      });
    });
    this.deps.relay.kick();
  }

  /**
   * Whether the host's agent is gone (no fresh heartbeat): a deletion then completes here.
   * A host an admin forced down whose agent still heartbeats gets the delete, so no guest is
   * left running there.
   */
  private async isHostDown(host: string): Promise<boolean> {
    try {
      const found = (await this.deps.hosts.hosts()).find((h) => h.host === host);
      return found !== undefined && !found.heartbeat_fresh;
    } catch {
      return false;
    }
  }

  async act(caller: Caller, id: string, action: 'stop' | 'start' | 'reboot' | 'reboot_hard'): Promise<void> {
    await inTransaction(this.deps.db, async (em) => {
      const row = await this.get(caller, id, em);
      assertActionAllowed(action, row);
      if (row.host === null) throw conflict(`Instance ${id} is not ready.`);
      const taskState = ACTION_TASK_STATE[action];
      await em.update(InstanceEntity, { seq: row.seq }, { taskState, updatedAt: new Date().toISOString() });
      const host = row.host;
      const instance_id = row.id;
      switch (action) {
        case 'stop':
          await enqueue(em, { type: 'compute.stop_instance', host, payload: { instance_id } });
          break;
        case 'start':
          await enqueue(em, { type: 'compute.start_instance', host, payload: { instance_id } });
          break;
        case 'reboot':
        case 'reboot_hard':
          await enqueue(em, {
            type: 'compute.reboot_instance',
            host,
            payload: { instance_id, reboot_type: action === 'reboot' ? 'SOFT' : 'HARD' },
          });
          break;
      }
    });
    this.deps.relay.kick();
  }

  /**
   * createImage (Nova's snapshot of an image-backed server): creates the queued image in the
   * server's project through the image service, with the caller's token (properties
   * inherited from the source image, then image_type=snapshot, instance_uuid,
   * base_image_ref, user_id, then the requested metadata), and in one transaction sets
   * task_state image_snapshot and queues compute.snapshot_instance to the server's host,
   * which uploads the disk. Returns the image id.
   */
  async createImage(caller: Caller, id: string, input: NewSnapshot): Promise<string> {
    const row = await this.get(caller, id);
    assertActionAllowed('createImage', row);
    if (row.host === null) throw conflict(`Instance ${id} is not ready.`);
    const limits = await this.deps.quotas.limits(row.projectId);
    const items = Object.keys(input.metadata).length;
    if (limits.metadata_items >= 0 && items > limits.metadata_items) {
      throw new AppError('QuotaExceeded', 'Image metadata limit exceeded');
    }
    const auth = imageAuth(caller);
    const source = await this.deps.images.get(row.imageId, auth);
    const inherited = source ? inheritable(source.properties) : {};
    const imageId = await this.deps.images.create(
      {
        name: input.name,
        owner: row.projectId,
        visibility: 'private',
        disk_format: 'qcow2',
        container_format: 'bare',
        min_disk_gb: Math.max(source?.min_disk_gb ?? 0, row.diskGb),
        min_ram_mb: source?.min_ram_mb ?? 0,
        properties: {
          ...inherited,
          base_image_ref: inherited.base_image_ref ?? row.imageId,
          image_type: 'snapshot',
          instance_uuid: row.id,
          user_id: caller.userId,
          ...input.metadata,
        },
      },
      auth,
    );
    try {
      await inTransaction(this.deps.db, async (em) => {
        const locked = await this.get(caller, id, em);
        assertActionAllowed('createImage', locked);
        if (locked.host === null) throw conflict(`Instance ${id} is not ready.`);
        await em.update(
          InstanceEntity,
          { seq: locked.seq },
          { taskState: ACTION_TASK_STATE.createImage, updatedAt: new Date().toISOString() },
        );
        await enqueue(em, {
          type: 'compute.snapshot_instance',
          host: locked.host,
          payload: { instance_id: locked.id, image_id: imageId },
        });
      });
    } catch (err) {
      // The server changed state meanwhile: the image would stay queued forever.
      await this.deps.images
        .delete(imageId, auth)
        .catch((e: unknown) =>
          this.deps.log.warn({ image: imageId, err: e }, 'could not delete the image of a refused snapshot'),
        );
      throw err;
    }
    this.deps.relay.kick();
    this.deps.log.info({ instance: id, image: imageId }, 'snapshot requested');
    return imageId;
  }

  async consoleOutput(caller: Caller, id: string, length: number | null): Promise<string> {
    const row = await this.get(caller, id);
    if (row.host === null || row.vmState === 'building') throw conflict(`Instance ${id} is not ready.`);
    const client = new ComputeClient(this.deps.bus, row.host);
    const { output } = await client.getConsoleOutput(row.id, length, {
      timeoutMs: this.deps.consoleTimeoutMs ?? 10_000,
    });
    return output;
  }

  /** Replaces (replace=true) or merges metadata; checks state and the metadata_items quota. */
  async setMetadata(
    caller: Caller,
    id: string,
    metadata: Record<string, string>,
    replace: boolean,
  ): Promise<Record<string, string>> {
    return this.changeMetadata(caller, id, 'update_metadata', (current) =>
      replace ? { ...metadata } : { ...current, ...metadata },
    );
  }

  async deleteMetadataKey(caller: Caller, id: string, key: string): Promise<void> {
    await this.changeMetadata(caller, id, 'update_metadata', (current) => {
      if (!Object.hasOwn(current, key)) throw notFound('Metadata item was not found');
      const { [key]: _gone, ...rest } = current;
      return rest;
    });
  }

  private async changeMetadata(
    caller: Caller,
    id: string,
    action: InstanceAction,
    change: (current: Record<string, string>) => Record<string, string>,
  ): Promise<Record<string, string>> {
    return inTransaction(this.deps.db, async (em) => {
      const row = await this.get(caller, id, em);
      assertActionAllowed(action, row);
      const next = change(row.metadata);
      const limits = await this.deps.quotas.limits(row.projectId, em);
      const items = Object.keys(next).length;
      if (limits.metadata_items >= 0 && items > limits.metadata_items) {
        throw new AppError(
          'QuotaExceeded',
          `Maximum number of metadata items exceeds ${limits.metadata_items}`,
        );
      }
      await em.update(
        InstanceEntity,
        { seq: row.seq },
        { metadata: next, updatedAt: new Date().toISOString() },
      );
      return next;
    });
  }
}
