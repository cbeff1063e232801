/**
 * The agent's work on its own host: build, delete, power, reboot and snapshot guests, and
 * keep the api's view of power states true. The hypervisor (the domain's existence and
 * state) is the truth, so every operation is idempotent: a redelivered build of a guest that
 * exists just reports it, a delete of a guest that is gone just reports it deleted, a
 * snapshot whose image is already active just reports the task done. Operations on one
 * instance run one at a time.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@strato/log';
import { AppError, isAppError, toAppError } from '@strato/errors';
import {
  POWER_STATE,
  type PayloadOf,
  type PowerState,
  type TaskState,
  type VmState,
  type buildInstance,
  type instanceBuildFailed,
  type instanceStateChanged,
  type hostInstances,
} from '@strato/contracts';
import type { HypervisorDriver, RebootType, SnapshotFile } from '../driver/hypervisor-driver';

export type BuildRequest = PayloadOf<typeof buildInstance>;
export type StateChanged = PayloadOf<typeof instanceStateChanged>;

/** Messages the agent sends (the typed event publisher, behind a port for tests). */
export interface AgentOutbox {
  stateChanged(event: StateChanged): Promise<void>;
  buildFailed(event: PayloadOf<typeof instanceBuildFailed>): Promise<void>;
  hostInstances(report: PayloadOf<typeof hostInstances>): Promise<void>;
}

/**
 * Where snapshots go: the image service (images/image-upload.ts), or a test double. The
 * image was created (queued) by the api, in the instance's project.
 */
export interface ImageUploader {
  /** The image's status ('queued', 'saving', 'active', …), or null when it no longer exists. */
  status(imageId: string): Promise<string | null>;
  /** Records the file's disk format on the image, then streams the file in as its data. */
  upload(imageId: string, file: string, format: SnapshotFile['format']): Promise<void>;
  /** Deletes the image of a failed snapshot; resolves when it is already gone. */
  discard(imageId: string): Promise<void>;
}

/** The vm_state a guest's power state implies when no task runs. */
export function vmStateFor(power: PowerState): VmState {
  switch (power) {
    case POWER_STATE.RUNNING:
      return 'active';
    case POWER_STATE.PAUSED:
      return 'paused';
    case POWER_STATE.SUSPENDED:
      return 'suspended';
    case POWER_STATE.CRASHED:
      return 'error';
    case POWER_STATE.SHUTDOWN:
    case POWER_STATE.NOSTATE:
      return 'stopped';
  }
}

/** A spawn quicker than this is reported once, when it ends (see reportSpawning). */
export const SPAWNING_REPORT_MS = 1000;

export class ComputeManager {
  private readonly locks = new Map<string, Promise<unknown>>();
  /** Last power state reported per guest (for drift detection). */
  private readonly known = new Map<string, PowerState>();
  /** Build attempt per guest built by this process (events carry it). */
  private readonly attempts = new Map<string, number>();
  /** Last occurred_at sent (ms): events of one burst get distinct, increasing times. */
  private clock = 0;
  /** Operations ended so far; `ended` maps a guest to the count when its last one ended. */
  private operationsEnded = 0;
  private readonly ended = new Map<string, number>();
  /** The counts at which the power syncs under way began to read. */
  private readonly looking: number[] = [];

  constructor(
    private readonly deps: {
      host: string;
      /** The host's availability zone, sent with every state event. */
      availabilityZone?: string;
      driver: HypervisorDriver;
      outbox: AgentOutbox;
      /** Receives snapshots (createImage). */
      images: ImageUploader;
      /** Where a snapshot's disk file is written while it uploads (removed afterwards). */
      snapshotDir: string;
      log: Logger;
      /** How long a spawn runs before building/spawning is reported (0: at once). */
      spawningReportMs?: number;
    },
  ) {}

  /** Runs fn after any other operation on the same instance. */
  private serial<T>(instanceId: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(instanceId) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.locks.set(instanceId, tail);
    void tail.then(() => {
      this.ended.set(instanceId, ++this.operationsEnded);
      if (this.locks.get(instanceId) === tail) this.locks.delete(instanceId);
    });
    return run;
  }

  /**
   * Reports building/spawning once a spawn has taken spawningReportMs: a spawn that ends
   * sooner is reported once, by its outcome (the api shows BUILD until then either way), which
   * spares the broker, the api's database and the scheduler an event per quick boot. Real
   * guests take longer and are seen spawning. settled() waits for the report if it was sent,
   * so the events stay in order.
   */
  private async reportSpawning(instanceId: string): Promise<{ settled(): Promise<void> }> {
    const report = () => this.event(instanceId, 'building', POWER_STATE.NOSTATE, 'spawning');
    const delay = this.deps.spawningReportMs ?? SPAWNING_REPORT_MS;
    if (delay <= 0) {
      await report();
      return { settled: async () => undefined };
    }
    let sent: Promise<void> | null = null;
    const timer = setTimeout(() => {
      sent = report();
      sent.catch(() => undefined); // settled() rethrows it; until then it is not unhandled
    }, delay);
    return {
      settled: async () => {
        clearTimeout(timer);
        await sent;
      },
    };
  }

  busy(instanceId: string): boolean {
    return this.locks.has(instanceId);
  }

  private event(
    instanceId: string,
    vmState: VmState,
    powerState: PowerState,
    taskState: TaskState | null = null,
    fault: StateChanged['fault'] = null,
  ): Promise<void> {
    if (vmState === 'deleted') this.known.delete(instanceId);
    else this.known.set(instanceId, powerState);
    // The api orders an instance's events by occurred_at and may handle a burst concurrently:
    // two events in the same millisecond could apply in either order.
    this.clock = Math.max(this.clock + 1, Date.now());
    return this.deps.outbox.stateChanged({
      instance_id: instanceId,
      host: this.deps.host,
      ...(this.deps.availabilityZone ? { availability_zone: this.deps.availabilityZone } : {}),
      attempt: this.attempts.get(instanceId) ?? null,
      vm_state: vmState,
      task_state: taskState,
      power_state: powerState,
      fault,
      occurred_at: new Date(this.clock).toISOString(),
    });
  }

  /** The guest is not on this host: an error with a 404 fault (not retried). */
  private missing(instanceId: string, action: string): Promise<void> {
    this.deps.log.warn({ instance: instanceId, action }, 'no such guest on this host');
    return this.event(instanceId, 'error', POWER_STATE.NOSTATE, null, {
      code: 404,
      message: `Instance ${instanceId} could not be found on host ${this.deps.host}.`,
      details: null,
    });
  }

  private async current(instanceId: string) {
    try {
      return await this.deps.driver.getInfo(instanceId);
    } catch (err) {
      if (isAppError(err) && err.kind === 'NotFound') return null;
      throw err;
    }
  }

  build(request: BuildRequest): Promise<void> {
    const id = request.instance_id;
    return this.serial(id, async () => {
      this.attempts.set(id, request.attempt);
      const existing = await this.current(id);
      if (existing) {
        this.deps.log.info({ instance: id }, 'build: guest already exists; reporting it');
        return this.event(id, vmStateFor(existing.powerState), existing.powerState);
      }
      const spawning = await this.reportSpawning(id);
      let info;
      try {
        info = await this.deps.driver.spawn({
          instanceId: id,
          projectId: request.project_id,
          displayName: request.display_name,
          flavorName: request.flavor.name,
          vcpus: request.flavor.vcpus,
          memoryMb: request.flavor.ram_mb,
          rootDiskGb: request.flavor.disk_gb,
          ephemeralGb: request.flavor.ephemeral_gb,
          extraSpecs: request.flavor.extra_specs,
          imageId: request.image.id,
          image: request.image,
          metadata: request.metadata,
          userData: request.user_data,
          keyData: request.key_data,
          keyName: request.key_name,
        });
      } catch (err) {
        await spawning.settled();
        const failure = toAppError(err);
        if (failure.kind === 'Conflict') {
          // Someone made it meanwhile (a redelivery racing this one): report what exists.
          const now = await this.current(id);
          if (now) return this.event(id, vmStateFor(now.powerState), now.powerState);
        }
        this.deps.log.warn({ instance: id, attempt: request.attempt, err: failure.message }, 'spawn failed');
        await this.deps.outbox.buildFailed({
          instance_id: id,
          host: this.deps.host,
          attempt: request.attempt,
          reason: failure.message,
          occurred_at: new Date().toISOString(),
        });
        return;
      }
      await spawning.settled();
      this.deps.log.info({ instance: id, attempt: request.attempt }, 'guest spawned');
      await this.event(id, 'active', info.powerState);
    });
  }

  delete(instanceId: string): Promise<void> {
    return this.serial(instanceId, async () => {
      await this.deps.driver.destroy(instanceId);
      await this.event(instanceId, 'deleted', POWER_STATE.NOSTATE);
      this.attempts.delete(instanceId);
    });
  }

  start(instanceId: string): Promise<void> {
    return this.powerAction(instanceId, 'start', () => this.deps.driver.powerOn(instanceId));
  }

  stop(instanceId: string): Promise<void> {
    return this.powerAction(instanceId, 'stop', () => this.deps.driver.powerOff(instanceId));
  }

  reboot(instanceId: string, type: RebootType): Promise<void> {
    return this.powerAction(instanceId, `reboot ${type}`, () => this.deps.driver.reboot(instanceId, type));
  }

  private powerAction(instanceId: string, what: string, act: () => Promise<void>): Promise<void> {
    return this.serial(instanceId, async () => {
      try {
        await act();
      } catch (err) {
        const failure = toAppError(err);
        if (failure.kind !== 'NotFound') throw failure;
        return this.missing(instanceId, what);
      }
      const info = await this.deps.driver.getInfo(instanceId);
      await this.event(instanceId, vmStateFor(info.powerState), info.powerState);
    });
  }

  /**
   * createImage: the guest's root disk, flattened, into the queued image the api created.
   * Reports task_state image_snapshot_pending (copying), image_uploading, then null. A
   * failure deletes the image and gives the instance back its state with no task (not
   * ERROR, as Nova does); the disk file never stays behind. A redelivery after the upload
   * finds the image active and only reports the task done.
   */
  snapshot(instanceId: string, imageId: string): Promise<void> {
    return this.serial(instanceId, async () => {
      const guest = await this.current(instanceId);
      if (!guest) {
        await this.deps.images.discard(imageId).catch((err: unknown) => this.discardFailed(imageId, err));
        return this.missing(instanceId, 'snapshot');
      }
      const file = join(this.deps.snapshotDir, `${imageId}.snapshot`);
      try {
        await this.copyAndUpload(instanceId, imageId, guest.powerState, file);
      } catch (err) {
        this.deps.log.warn(
          { instance: instanceId, image: imageId, err: toAppError(err).message },
          'snapshot failed; its image is deleted and the instance keeps its state',
        );
        await this.deps.images.discard(imageId).catch((e: unknown) => this.discardFailed(imageId, e));
      } finally {
        await rm(file, { force: true }).catch((err: unknown) =>
          this.deps.log.warn({ image: imageId, err }, 'could not remove a snapshot file'),
        );
      }
      const now = await this.current(instanceId);
      if (!now) return this.missing(instanceId, 'snapshot');
      return this.event(instanceId, vmStateFor(now.powerState), now.powerState);
    });
  }

  private async copyAndUpload(
    instanceId: string,
    imageId: string,
    power: PowerState,
    file: string,
  ): Promise<void> {
    const { driver, images, log } = this.deps;
    const status = await images.status(imageId);
    if (status === null || status === 'active') {
      // Deleted by its owner meanwhile, or uploaded by an earlier delivery of this message.
      log.info({ instance: instanceId, image: imageId, status }, 'snapshot: nothing left to do');
      return;
    }
    if (status !== 'queued') throw new AppError('Conflict', `image ${imageId} is ${status}, not queued`);
    await this.event(instanceId, vmStateFor(power), power, 'image_snapshot_pending');
    await mkdir(this.deps.snapshotDir, { recursive: true });
    await rm(file, { force: true }); // left by an attempt that crashed
    const written = await driver.snapshot(instanceId, file);
    await this.event(instanceId, vmStateFor(power), power, 'image_uploading');
    await images.upload(imageId, file, written.format);
    log.info({ instance: instanceId, image: imageId, bytes: written.size }, 'snapshot uploaded');
  }

  private discardFailed(imageId: string, err: unknown): void {
    this.deps.log.warn(
      { image: imageId, err: toAppError(err).message },
      'could not delete the image of a failed snapshot',
    );
  }

  consoleOutput(instanceId: string, lines: number | null): Promise<string> {
    return this.deps.driver.consoleOutput(instanceId, lines);
  }

  /**
   * At start: what libvirt has. Reported to the api (host.instances), which knows what
   * should be here and reconciles (missing, unexpected, power-state drift).
   */
  async reconcile(): Promise<number> {
    const guests = await this.deps.driver.list();
    for (const g of guests) this.known.set(g.instanceId, g.powerState);
    await this.deps.outbox.hostInstances({
      host: this.deps.host,
      instances: guests.map((g) => ({ instance_id: g.instanceId, power_state: g.powerState })),
      reported_at: new Date().toISOString(),
    });
    this.deps.log.info({ guests: guests.length }, 'reported the guests libvirt has');
    return guests.length;
  }

  /**
   * Compares every guest's power state with the last one reported and publishes changes
   * (a guest shut down from inside, crashed, or vanished). Guests with an operation under
   * way are skipped: that operation reports them. With `only`, one guest is looked up (a
   * lifecycle event names it) instead of listing them all: a host's every event would
   * otherwise cost a call per guest it runs.
   */
  syncPowerStates(only?: string): Promise<number> {
    if (only !== undefined) return this.syncOne(only);
    return this.look(async (since) => {
      const guests = await this.deps.driver.list();
      const seen = new Set<string>();
      let changed = 0;
      for (const g of guests) {
        seen.add(g.instanceId);
        changed += await this.compare(g.instanceId, g.powerState, since);
      }
      for (const id of [...this.known.keys()]) {
        if (!seen.has(id)) changed += await this.compare(id, null, since);
      }
      return changed;
    });
  }

  private syncOne(instanceId: string): Promise<number> {
    // An operation under way reports this guest itself (its own start or stop raised the event).
    if (this.busy(instanceId)) return Promise.resolve(0);
    return this.look(async (since) => {
      const info = await this.current(instanceId);
      return this.compare(instanceId, info?.powerState ?? null, since);
    });
  }

  /**
   * Runs a power sync that reads libvirt now. What libvirt answers is as of some moment of the
   * call: a guest whose operation ended after the call began (a build done meanwhile, not
   * listed yet; a start done after its state was read) is judged at the next sync instead.
   */
  private async look<T>(sync: (since: number) => Promise<T>): Promise<T> {
    const since = this.operationsEnded;
    this.looking.push(since);
    try {
      return await sync(since);
    } finally {
      this.looking.splice(this.looking.indexOf(since), 1);
      // Forget the ends that no sync under way, nor any to come, could hold a guest back for.
      const oldest = Math.min(this.operationsEnded, ...this.looking);
      for (const [id, at] of this.ended) if (at <= oldest) this.ended.delete(id);
    }
  }

  /**
   * Reports a guest whose power state differs from the one last reported; null: it is gone.
   * `since`: the count of ended operations when the state was read; a guest whose operation
   * ended after that was read before it and is left alone.
   */
  private async compare(instanceId: string, powerState: PowerState | null, since: number): Promise<number> {
    if (this.busy(instanceId) || (this.ended.get(instanceId) ?? 0) > since) return 0;
    const before = this.known.get(instanceId);
    if (powerState === null) {
      if (before === undefined) return 0; // never ours to report, or already reported gone
      this.deps.log.warn({ instance: instanceId }, 'guest vanished from the hypervisor');
      const reported = this.event(instanceId, 'error', POWER_STATE.NOSTATE, null, {
        code: 500,
        message: `The guest of instance ${instanceId} vanished from host ${this.deps.host}.`,
        details: null,
      });
      this.known.delete(instanceId); // reported once, not again at every sync
      await reported;
      return 1;
    }
    if (before === powerState) return 0;
    this.known.set(instanceId, powerState);
    if (before === undefined) return 0; // first sight (reported by reconcile or its build)
    await this.event(instanceId, vmStateFor(powerState), powerState);
    return 1;
  }

  /** How many guests run now (for load reports). */
  async runningGuests(): Promise<number> {
    return (await this.deps.driver.list()).length;
  }
}
