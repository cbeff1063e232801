/**
 * Placement: from a schedule request to a claimed host and a build on its queue; build
 * failures, deletions and silent hosts free claims and reschedule. Every method is
 * idempotent (keyed by the instance's scheduling row and attempt), so a redelivered message
 * repeats nothing and loses nothing.
 */
import type { Logger } from '@strato/log';
import type {
  Fault,
  PayloadOf,
  buildInstance,
  instanceBuildFailed,
  instanceStateChanged,
  scheduleInstance,
} from '@strato/contracts';
import { isAppError } from '@strato/errors';
import type { AdmitRequest, Admission, BuildFailure, ClaimResult } from '../store/placement.repository';
import type { SchedulingRow } from '../store/entities';
import type { Heartbeat } from '@strato/contracts';
import { resourcesOf, type HostState, type PlacementRequest, type Resources } from './model';
import type { HostFilter, WeigherSetting } from './plugins';
import { describeSteps, runPipeline } from './pipeline';

export type ScheduleRequest = PayloadOf<typeof scheduleInstance>;
export type BuildRequest = PayloadOf<typeof buildInstance>;
export type StateChanged = PayloadOf<typeof instanceStateChanged>;
export type BuildFailed = PayloadOf<typeof instanceBuildFailed>;

/** What the scheduler's store must do (PlacementRepository implements it). */
export interface PlacementStore {
  admit(request: AdmitRequest): Promise<Admission>;
  /** True where claim() takes `admit` (one round trip for a first request's record and claim). */
  readonly claimAdmits?: boolean;
  claim(input: {
    instanceId: string;
    attempt: number;
    host: string;
    resources: Resources;
    group: { id: string; policy: string; hosts: ReadonlySet<string> } | null;
    admit?: AdmitRequest;
  }): Promise<ClaimResult>;
  unclaim(instanceId: string, attempt: number, host: string): Promise<boolean>;
  markError(instanceId: string, attempt: number, fault: Fault): Promise<boolean>;
  failBuild(input: {
    instanceId: string;
    host: string;
    attempt: number;
    maxAttempts: number;
    fault: Fault;
  }): Promise<BuildFailure>;
  markBuilt(instanceId: string, host: string, attempt: number | null): Promise<SchedulingRow | null>;
  freeOnHost(instanceId: string, host: string): Promise<void>;
  release(instanceId: string): Promise<SchedulingRow | null>;
  getRequest(instanceId: string): Promise<SchedulingRow | null>;
  groupHosts(groupId: string, exceptInstance: string): Promise<string[]>;
  building(): Promise<Pick<SchedulingRow, 'instance_id' | 'host' | 'attempt'>[]>;
}

export interface HostSource {
  hosts(): Promise<HostState[]>;
  heartbeats(): Promise<Map<string, Heartbeat>>;
  /** A view read now, when hosts() may answer from a snapshot (PlacementView). */
  fresh?(): Promise<HostState[]>;
  /** A claim succeeded: count it in the snapshot. */
  consumed?(host: string, resources: Resources): void;
  /** A claim failed where the snapshot said it fits: drop the snapshot. */
  invalidate?(): void;
}

/** Messages the scheduler sends (the typed clients, behind a port for tests). */
export interface SchedulerOutbox {
  build(host: string, request: BuildRequest): Promise<void>;
  deleteOn(host: string, instanceId: string): Promise<void>;
  stateChanged(event: StateChanged): Promise<void>;
  reschedule(request: ScheduleRequest): Promise<void>;
}

export type ScheduleOutcome =
  | { outcome: 'placed'; host: string }
  | { outcome: 'no-valid-host'; reason: string }
  | { outcome: 'dropped'; why: string };

/** Nova's NoValidHost message (nova/exception.py), with its usual reason. */
export const NO_VALID_HOST = 'No valid host was found. There are not enough hosts available.';

const MAX_ROUNDS = 3;

function parseList(text: string): string[] {
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : [];
  } catch {
    return [];
  }
}

export class PlacementService {
  private readonly log: Logger;

  constructor(
    private readonly deps: {
      store: PlacementStore;
      hosts: HostSource;
      filters: readonly HostFilter[];
      weighers: readonly WeigherSetting[];
      outbox: SchedulerOutbox;
      log: Logger;
      /** Build attempts per instance before it goes to ERROR (nova's max_attempts). */
      maxAttempts: number;
      /** Pick at random among the best N hosts (nova's host_subset_size); 1 = always the best. */
      hostSubsetSize: number;
      random?: () => number;
    },
  ) {
    this.log = deps.log;
  }

  async schedule(payload: ScheduleRequest): Promise<ScheduleOutcome> {
    const record: AdmitRequest = {
      instanceId: payload.instance_id,
      attempt: payload.attempt,
      serverGroupId: payload.server_group?.id ?? null,
      excludedHosts: payload.excluded_hosts,
      body: JSON.stringify(payload),
    };
    if (this.deps.store.claimAdmits && !payload.server_group) {
      // Usually placed at once, its record written in the first claim's round trip.
      const placed = await this.place(payload, new Set(payload.excluded_hosts), record);
      if (placed) return placed;
    }
    const admission = await this.deps.store.admit(record);
    switch (admission.action) {
      case 'drop':
        this.log.info(
          { instance: payload.instance_id, attempt: payload.attempt, why: admission.why },
          'schedule request dropped',
        );
        return { outcome: 'dropped', why: admission.why };
      case 'resend-build':
        await this.deps.outbox.build(admission.row.host!, this.buildRequest(payload, admission.row.host!));
        return { outcome: 'placed', host: admission.row.host! };
      case 'resend-error': {
        const fault = JSON.parse(admission.row.fault ?? 'null') as Fault | null;
        await this.publishError(payload.instance_id, payload.attempt, fault ?? this.noValidHostFault(''));
        return { outcome: 'no-valid-host', reason: fault?.details ?? '' };
      }
      case 'schedule':
        return this.place(payload, new Set(parseList(admission.row.excluded_hosts)));
    }
  }

  /**
   * Ranks the hosts and claims on the best, for up to MAX_ROUNDS rounds. With `unrecorded`
   * (a request not admitted yet, where the store's claim can record it), the first claim also
   * writes its record; null when that cannot go on without admit() deciding first: no
   * candidate in the view (a "No valid host" needs the record), or a record already there
   * that is not this attempt being scheduled.
   */
  private async place(payload: ScheduleRequest, excluded: Set<string>): Promise<ScheduleOutcome>;
  private async place(
    payload: ScheduleRequest,
    excluded: Set<string>,
    unrecorded: AdmitRequest,
  ): Promise<ScheduleOutcome | null>;
  private async place(
    payload: ScheduleRequest,
    excluded: Set<string>,
    unrecorded?: AdmitRequest,
  ): Promise<ScheduleOutcome | null> {
    const request = this.placementRequest(payload, excluded);
    const source = this.deps.hosts;
    let reason = '';
    // The first round may rank on a snapshot; later rounds, and any "no valid host", on a fresh view.
    let fresh = !source.fresh;
    for (let round = 1; round <= MAX_ROUNDS; round++) {
      const hosts = fresh ? await (source.fresh?.() ?? source.hosts()) : await source.hosts();
      if (request.serverGroup) {
        const known = await this.deps.store.groupHosts(request.serverGroup.id, payload.instance_id);
        request.serverGroup = {
          ...request.serverGroup,
          hosts: new Set([...payload.server_group!.hosts, ...known]),
        };
      }
      const { ranked, steps } = runPipeline(hosts, request, this.deps.filters, this.deps.weighers);
      this.log.info(
        {
          instance: payload.instance_id,
          attempt: payload.attempt,
          round,
          hosts: hosts.length,
          candidates: ranked.length,
          filters: Object.fromEntries(steps.map((s) => [s.filter, s.removed])),
        },
        ranked.length ? 'hosts filtered and weighed' : `no host passed the filters: ${describeSteps(steps)}`,
      );
      if (ranked.length === 0) {
        if (unrecorded) return null;
        if (!fresh) {
          fresh = true;
          round--; // the snapshot's answer does not count: ask the store
          continue;
        }
        reason = describeSteps(steps);
        break;
      }
      const lost: string[] = [];
      for (const candidate of this.order(ranked.map((r) => r.host))) {
        const result = await this.deps.store.claim({
          instanceId: payload.instance_id,
          attempt: payload.attempt,
          host: candidate.host,
          resources: request.resources,
          group: request.serverGroup,
          admit: unrecorded,
        });
        const recordedNow = unrecorded !== undefined;
        unrecorded = undefined; // written by that claim's transaction, whatever its verdict
        if (result.ok) {
          source.consumed?.(candidate.host, request.resources);
          await this.sendBuild(payload, candidate.host);
          this.log.info(
            { instance: payload.instance_id, attempt: payload.attempt, host: candidate.host },
            'claimed; build sent',
          );
          return { outcome: 'placed', host: candidate.host };
        }
        if (result.reason === 'stale') {
          if (recordedNow) return null; // a record was already there: admit() reads it
          return { outcome: 'dropped', why: 'the request moved on while it was being scheduled' };
        }
        lost.push(`${candidate.host}: ${result.reason}`);
        source.invalidate?.();
        fresh = true;
      }
      reason = `every candidate was taken concurrently (${lost.join(', ')})`;
      this.log.info(
        { instance: payload.instance_id, round, lost },
        'lost the race for every candidate; trying again',
      );
    }
    return this.noValidHost(payload, reason);
  }

  private async sendBuild(payload: ScheduleRequest, host: string): Promise<void> {
    try {
      await this.deps.outbox.build(host, this.buildRequest(payload, host));
    } catch (err) {
      // Not sent: give the claim back so the redelivery starts clean, then let it retry.
      this.deps.hosts.invalidate?.();
      await this.deps.store.unclaim(payload.instance_id, payload.attempt, host);
      throw err;
    }
  }

  /** Orders candidates: a random one of the best `hostSubsetSize` first, then the rest by weight. */
  private order(ranked: HostState[]): HostState[] {
    const n = Math.min(Math.max(1, this.deps.hostSubsetSize), ranked.length);
    if (n <= 1) return ranked;
    const pick = Math.floor((this.deps.random ?? Math.random)() * n);
    return [ranked[pick]!, ...ranked.filter((_, i) => i !== pick)];
  }

  private noValidHostFault(details: string): Fault {
    return { code: 500, message: NO_VALID_HOST, details: details || null };
  }

  private async noValidHost(payload: ScheduleRequest, reason: string): Promise<ScheduleOutcome> {
    const fault = this.noValidHostFault(reason);
    const marked = await this.deps.store.markError(payload.instance_id, payload.attempt, fault);
    if (!marked) {
      const row = await this.deps.store.getRequest(payload.instance_id);
      if (!row || row.status !== 'error' || row.attempt !== payload.attempt) {
        return { outcome: 'dropped', why: 'the request moved on while it was being scheduled' };
      }
    }
    this.log.warn({ instance: payload.instance_id, attempt: payload.attempt, reason }, 'no valid host');
    await this.publishError(payload.instance_id, payload.attempt, fault);
    return { outcome: 'no-valid-host', reason };
  }

  private publishError(instanceId: string, attempt: number, fault: Fault): Promise<void> {
    return this.deps.outbox.stateChanged({
      instance_id: instanceId,
      host: null,
      attempt,
      vm_state: 'error',
      task_state: null,
      power_state: 0,
      fault,
      occurred_at: new Date().toISOString(),
    });
  }

  /** The agent could not build it (or went silent): free the claim, then reschedule or fail. */
  async buildFailed(event: Pick<BuildFailed, 'instance_id' | 'host' | 'attempt' | 'reason'>): Promise<void> {
    const fault: Fault = {
      code: 500,
      message:
        'Exceeded maximum number of retries. Exhausted all hosts available for retrying build failures ' +
        `for instance ${event.instance_id}.`,
      details: event.reason,
    };
    const result = await this.deps.store.failBuild({
      instanceId: event.instance_id,
      host: event.host,
      attempt: event.attempt,
      maxAttempts: this.deps.maxAttempts,
      fault,
    });
    let row: SchedulingRow;
    switch (result.outcome) {
      case 'reschedule':
      case 'exhausted':
        row = result.row;
        this.log.warn(
          {
            instance: event.instance_id,
            host: event.host,
            attempt: event.attempt,
            reason: event.reason,
            outcome: result.outcome,
          },
          'build failed on host; claim released',
        );
        break;
      case 'ignored': {
        // A redelivery after the change committed: repeat the messages, which are idempotent.
        const current = await this.deps.store.getRequest(event.instance_id);
        const followUp =
          current &&
          ((current.status === 'scheduling' && current.attempt === event.attempt + 1) ||
            (current.status === 'error' && current.attempt === event.attempt));
        if (!followUp) {
          this.log.debug({ instance: event.instance_id, why: result.why }, 'build failure ignored');
          return;
        }
        row = current;
        break;
      }
    }
    if (row.status === 'error') {
      await this.publishError(
        row.instance_id,
        row.attempt,
        (JSON.parse(row.fault ?? 'null') as Fault | null) ?? fault,
      );
      return;
    }
    const previous = JSON.parse(row.request) as ScheduleRequest;
    await this.deps.outbox.stateChanged({
      instance_id: row.instance_id,
      host: null,
      attempt: row.attempt,
      vm_state: 'building',
      task_state: 'scheduling',
      power_state: 0,
      fault: null,
      occurred_at: new Date().toISOString(),
    });
    await this.deps.outbox.reschedule({
      ...previous,
      attempt: row.attempt,
      excluded_hosts: parseList(row.excluded_hosts),
    });
  }

  /** The instance is deleted: free everything, and make sure its host (if any) destroys it. */
  async release(instanceId: string): Promise<void> {
    const row = await this.deps.store.getRequest(instanceId);
    if (row?.host && row.status !== 'deleted') await this.deps.outbox.deleteOn(row.host, instanceId);
    await this.deps.store.release(instanceId);
    this.log.info({ instance: instanceId, host: row?.host ?? null }, 'claim released');
  }

  /** Follows builds to their end; frees allocations of destroyed guests; cleans up orphans. */
  async stateChanged(event: StateChanged): Promise<void> {
    if (!event.host) return;
    if (event.vm_state === 'deleted') {
      await this.deps.store.freeOnHost(event.instance_id, event.host);
      return;
    }
    if (event.vm_state === 'error' || event.vm_state === 'building') return;
    const row = await this.deps.store.markBuilt(event.instance_id, event.host, event.attempt);
    if (!row) return;
    const orphan =
      row.status === 'deleted' ||
      (row.host !== event.host && (event.attempt === null || event.attempt < row.attempt));
    if (orphan) {
      this.log.warn(
        { instance: event.instance_id, host: event.host, current: row.host, status: row.status },
        'a guest exists where the instance no longer belongs; asking its host to delete it',
      );
      await this.deps.outbox.deleteOn(event.host, event.instance_id);
    }
  }

  /**
   * Builds on hosts whose heartbeat expired are treated as failed: rescheduled elsewhere or
   * put in ERROR, so an agent dying mid-build never leaves an instance in BUILD.
   */
  async sweepSilentHosts(): Promise<number> {
    const [building, beats] = await Promise.all([this.deps.store.building(), this.deps.hosts.heartbeats()]);
    let failed = 0;
    for (const row of building) {
      if (!row.host || beats.has(row.host)) continue;
      try {
        await this.buildFailed({
          instance_id: row.instance_id,
          host: row.host,
          attempt: row.attempt,
          reason: `compute host ${row.host} stopped reporting (heartbeat expired) during the build`,
        });
        failed++;
      } catch (err) {
        this.log.error(
          { err: isAppError(err) ? err.message : err, instance: row.instance_id },
          'could not fail a build on a silent host',
        );
      }
    }
    return failed;
  }

  private placementRequest(payload: ScheduleRequest, excluded: ReadonlySet<string>): PlacementRequest {
    return {
      instanceId: payload.instance_id,
      attempt: payload.attempt,
      resources: resourcesOf(payload.flavor),
      extraSpecs: payload.flavor.extra_specs,
      imageProperties: payload.image.properties,
      availabilityZone: payload.availability_zone,
      serverGroup: payload.server_group
        ? {
            id: payload.server_group.id,
            policy: payload.server_group.policy,
            hosts: new Set(payload.server_group.hosts),
          }
        : null,
      excludedHosts: new Set([...excluded, ...payload.excluded_hosts]),
    };
  }

  private buildRequest(payload: ScheduleRequest, host: string): BuildRequest {
    return {
      instance_id: payload.instance_id,
      project_id: payload.project_id,
      user_id: payload.user_id,
      display_name: payload.display_name,
      flavor: payload.flavor,
      image: payload.image,
      metadata: payload.metadata,
      user_data: payload.user_data,
      key_data: payload.key_data,
      key_name: payload.key_name,
      host,
      attempt: payload.attempt,
    };
  }
}
