import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { POWER_STATE, sampleFlavor, sampleImage, sampleInstanceSpec } from '@strato/contracts';
import { AppError } from '@strato/errors';
import { createLogger } from '@strato/log';
import { guestSpec } from '../driver/driver.contract';
import { FakeDriver } from '../driver/fake.driver';
import {
  ComputeManager,
  type AgentOutbox,
  type BuildRequest,
  type ImageUploader,
  type StateChanged,
} from './compute.manager';

const log = createLogger('manager-test', { level: 'silent' });
/** The instance whose FakeDriver snapshot fails. */
const doomedSnapshot = randomUUID();

function buildRequest(overrides: Partial<BuildRequest> = {}): BuildRequest {
  return {
    ...sampleInstanceSpec({
      flavor: sampleFlavor({ ram_mb: 128 }),
      image: sampleImage({ id: 'img', name: null, disk_format: null, container_format: null }),
    }),
    host: 'node1',
    attempt: 1,
    ...overrides,
  };
}

class Recorder implements AgentOutbox {
  events: StateChanged[] = [];
  failures: { instance_id: string; reason: string; attempt: number }[] = [];
  reports: { instances: unknown[] }[] = [];
  async stateChanged(e: StateChanged) {
    this.events.push(e);
  }
  async buildFailed(e: { instance_id: string; reason: string; attempt: number }) {
    this.failures.push(e);
  }
  async hostInstances(r: { instances: unknown[] }) {
    this.reports.push(r);
  }
  states(id: string) {
    return this.events
      .filter((e) => e.instance_id === id)
      .map((e) => `${e.vm_state}/${e.task_state ?? '-'}/${e.power_state}`);
  }
}

/** The image service as the agent sees it: images by id with their status and uploaded data. */
class FakeUploads implements ImageUploader {
  readonly images = new Map<string, { status: string; data?: string; format?: string }>();
  readonly discarded: string[] = [];
  failUpload: string | null = null;
  uploads = 0;

  queue(): string {
    const id = randomUUID();
    this.images.set(id, { status: 'queued' });
    return id;
  }

  async status(imageId: string) {
    return this.images.get(imageId)?.status ?? null;
  }

  async upload(imageId: string, file: string, format: string) {
    this.uploads++;
    if (this.failUpload) throw new AppError('Unavailable', this.failUpload);
    const image = this.images.get(imageId)!;
    Object.assign(image, { status: 'active', format, data: await readFile(file, 'utf8') });
  }

  async discard(imageId: string) {
    this.discarded.push(imageId);
    this.images.delete(imageId);
  }
}

describe('ComputeManager', () => {
  let driver: FakeDriver;
  let outbox: Recorder;
  let uploads: FakeUploads;
  let snapshotDir: string;
  let manager: ComputeManager;
  const managerWith = (spawningReportMs?: number) =>
    new ComputeManager({
      host: 'node1',
      driver,
      outbox,
      images: uploads,
      snapshotDir,
      log,
      spawningReportMs,
    });

  beforeEach(() => {
    driver = new FakeDriver({
      failSpawn: (spec) => (spec.displayName === 'doomed' ? 'image download failed' : null),
      failSnapshot: (id) => (id === doomedSnapshot ? 'disk read error' : null),
    });
    outbox = new Recorder();
    uploads = new FakeUploads();
    snapshotDir = join(mkdtempSync(join(tmpdir(), 'strato-manager-')), 'snapshots');
    // spawningReportMs 0: every build reports spawning first, as the event sequences below show.
    manager = managerWith(0);
  });

  afterEach(() => {
    rmSync(join(snapshotDir, '..'), { recursive: true, force: true });
  });

  it('builds a guest and reports spawning, then active and running', async () => {
    const req = buildRequest();
    await manager.build(req);
    expect(outbox.states(req.instance_id)).toEqual(['building/spawning/0', 'active/-/1']);
    expect(outbox.events.at(-1)).toMatchObject({ host: 'node1', attempt: 1 });
  });

  describe('reporting spawning only for a spawn that takes a while', () => {
    const slowSpawns = (ms: number) => {
      const spawn = driver.spawn.bind(driver);
      jest.spyOn(driver, 'spawn').mockImplementation(async (spec) => {
        await new Promise((r) => setTimeout(r, ms));
        return spawn(spec);
      });
    };

    it('reports a quick spawn once, as active (the default wait)', async () => {
      const req = buildRequest();
      await managerWith().build(req);
      expect(outbox.states(req.instance_id)).toEqual(['active/-/1']);
    });

    it('reports spawning, then active, when the spawn outlasts the wait', async () => {
      slowSpawns(80);
      const req = buildRequest();
      await managerWith(10).build(req);
      expect(outbox.states(req.instance_id)).toEqual(['building/spawning/0', 'active/-/1']);
      const [spawning, active] = outbox.events;
      expect(Date.parse(spawning!.occurred_at)).toBeLessThan(Date.parse(active!.occurred_at));
    });

    it('reports spawning before the failure of a slow spawn, and nothing after a quick one', async () => {
      slowSpawns(80);
      const slow = buildRequest({ display_name: 'doomed' });
      await managerWith(10).build(slow);
      expect(outbox.states(slow.instance_id)).toEqual(['building/spawning/0']);
      expect(outbox.failures).toHaveLength(1);
      jest.restoreAllMocks();
      const quick = buildRequest({ display_name: 'doomed' });
      await managerWith().build(quick);
      expect(outbox.states(quick.instance_id)).toEqual([]);
      expect(outbox.failures).toHaveLength(2);
    });
  });

  it('builds once however often the build is delivered, even concurrently', async () => {
    const req = buildRequest();
    await Promise.all([manager.build(req), manager.build(req)]);
    await manager.build(req);
    expect(await driver.list()).toHaveLength(1);
    expect(outbox.states(req.instance_id)).toEqual([
      'building/spawning/0',
      'active/-/1',
      'active/-/1',
      'active/-/1',
    ]);
  });

  it('reports a spawn failure as build_failed, for the scheduler to reschedule', async () => {
    const req = buildRequest({ display_name: 'doomed', attempt: 2 });
    await manager.build(req);
    expect(outbox.failures).toEqual([
      expect.objectContaining({ instance_id: req.instance_id, attempt: 2, reason: 'image download failed' }),
    ]);
    expect(await driver.list()).toEqual([]);
  });

  it('deletes idempotently, reporting deleted each time', async () => {
    const req = buildRequest();
    await manager.build(req);
    await manager.delete(req.instance_id);
    await manager.delete(req.instance_id);
    expect(outbox.states(req.instance_id).slice(-2)).toEqual(['deleted/-/0', 'deleted/-/0']);
    expect(await driver.list()).toEqual([]);
  });

  it('stops and starts, reporting stopped/shutdown and active/running', async () => {
    const req = buildRequest();
    await manager.build(req);
    await manager.stop(req.instance_id);
    await manager.start(req.instance_id);
    await manager.reboot(req.instance_id, 'HARD');
    expect(outbox.states(req.instance_id).slice(-3)).toEqual(['stopped/-/4', 'active/-/1', 'active/-/1']);
  });

  it('reports an action on a guest this host does not have as an error, not a retry', async () => {
    const id = randomUUID();
    await manager.stop(id);
    expect(outbox.events).toEqual([
      expect.objectContaining({
        instance_id: id,
        vm_state: 'error',
        fault: expect.objectContaining({ code: 404 }),
      }),
    ]);
  });

  it('notices a guest that changed power state behind its back', async () => {
    const req = buildRequest();
    await manager.build(req);
    expect(await manager.syncPowerStates()).toBe(0);
    driver.simulatePowerChange(req.instance_id, POWER_STATE.SHUTDOWN);
    expect(await manager.syncPowerStates()).toBe(1);
    expect(outbox.states(req.instance_id).at(-1)).toBe('stopped/-/4');
    expect(await manager.syncPowerStates()).toBe(0);
  });

  it('notices a guest that vanished from the hypervisor', async () => {
    const req = buildRequest();
    await manager.build(req);
    await driver.destroy(req.instance_id);
    expect(await manager.syncPowerStates()).toBe(1);
    expect(outbox.events.at(-1)).toMatchObject({
      vm_state: 'error',
      fault: { message: expect.stringContaining('vanished') },
    });
    expect(await manager.syncPowerStates()).toBe(0); // reported once
  });

  it('does not take a guest built while the host was being listed for one that vanished', async () => {
    const req = buildRequest();
    // libvirt's answer is from before the build made the guest; it arrives after the build ended.
    let answer!: () => void;
    const listed = driver.list();
    jest.spyOn(driver, 'list').mockImplementationOnce(async () => {
      const guests = await listed;
      await new Promise<void>((r) => (answer = r));
      return guests;
    });
    const sync = manager.syncPowerStates();
    await manager.build(req);
    await new Promise((r) => setImmediate(r)); // the build's lock is let go
    answer();
    expect(await sync).toBe(0);
    expect(outbox.states(req.instance_id)).toEqual(['building/spawning/0', 'active/-/1']);
    // The next look judges it on what libvirt says then: there, and running.
    expect(await manager.syncPowerStates()).toBe(0);
    await driver.destroy(req.instance_id);
    expect(await manager.syncPowerStates()).toBe(1);
    expect(outbox.events.at(-1)).toMatchObject({ fault: { message: expect.stringContaining('vanished') } });
  });

  it('does not report a power state read before an operation on the guest ended', async () => {
    const req = buildRequest();
    await manager.build(req);
    await manager.stop(req.instance_id);
    let answer!: () => void;
    const stale = driver.list(); // shut off, as read before the start below
    jest.spyOn(driver, 'list').mockImplementationOnce(async () => {
      const guests = await stale;
      await new Promise<void>((r) => (answer = r));
      return guests;
    });
    const sync = manager.syncPowerStates();
    await manager.start(req.instance_id);
    await new Promise((r) => setImmediate(r));
    answer();
    expect(await sync).toBe(0);
    expect(outbox.states(req.instance_id).at(-1)).toBe('active/-/1');
  });

  it('checks only the guest a lifecycle event names, without listing the host', async () => {
    const [a, b] = [buildRequest(), buildRequest()];
    await manager.build(a);
    await manager.build(b);
    const list = jest.spyOn(driver, 'list');
    driver.simulatePowerChange(a.instance_id, POWER_STATE.SHUTDOWN);
    driver.simulatePowerChange(b.instance_id, POWER_STATE.SHUTDOWN);
    expect(await manager.syncPowerStates(a.instance_id)).toBe(1);
    expect(outbox.states(a.instance_id).at(-1)).toBe('stopped/-/4');
    expect(outbox.states(b.instance_id).at(-1)).toBe('active/-/1');
    expect(await manager.syncPowerStates(a.instance_id)).toBe(0);
    await driver.destroy(b.instance_id);
    expect(await manager.syncPowerStates(b.instance_id)).toBe(1);
    expect(outbox.events.at(-1)).toMatchObject({
      instance_id: b.instance_id,
      vm_state: 'error',
      fault: { message: expect.stringContaining('vanished') },
    });
    expect(await manager.syncPowerStates(b.instance_id)).toBe(0);
    expect(await manager.syncPowerStates(randomUUID())).toBe(0);
    expect(list).not.toHaveBeenCalled();
  });

  it('reports the guests libvirt has at start, for the api to reconcile', async () => {
    const req = buildRequest();
    await driver.spawn(guestSpec({ instanceId: req.instance_id }));
    expect(await manager.reconcile()).toBe(1);
    expect(outbox.reports[0]!.instances).toEqual([
      { instance_id: req.instance_id, power_state: POWER_STATE.RUNNING },
    ]);
  });
  it('hands the key pair name to the driver', async () => {
    const req = buildRequest({ key_name: 'mykey', key_data: 'ssh-ed25519 AAAA' });
    await manager.build(req);
    expect(driver.specOf(req.instance_id)).toMatchObject({ keyName: 'mykey', keyData: 'ssh-ed25519 AAAA' });
  });

  describe('snapshot (createImage)', () => {
    async function running(overrides: Partial<BuildRequest> = {}): Promise<string> {
      const req = buildRequest(overrides);
      await manager.build(req);
      outbox.events.length = 0;
      return req.instance_id;
    }

    it('uploads the flattened disk into the queued image, reporting pending, uploading, then no task', async () => {
      const id = await running();
      const image = uploads.queue();
      await manager.snapshot(id, image);
      expect(outbox.states(id)).toEqual([
        'active/image_snapshot_pending/1',
        'active/image_uploading/1',
        'active/-/1',
      ]);
      expect(uploads.images.get(image)).toEqual({
        status: 'active',
        format: 'raw',
        data: `strato fake disk of ${id} from image img\n`,
      });
      expect(readdirSync(snapshotDir)).toEqual([]);
    });

    it('snapshots a stopped guest and leaves it stopped', async () => {
      const id = await running();
      await manager.stop(id);
      const image = uploads.queue();
      await manager.snapshot(id, image);
      expect(outbox.states(id).slice(-2)).toEqual(['stopped/image_uploading/4', 'stopped/-/4']);
      expect(uploads.images.get(image)?.status).toBe('active');
    });

    it('gives every event of the burst a later time than the one before', async () => {
      const id = await running();
      await manager.snapshot(id, uploads.queue());
      const times = outbox.events.map((e) => Date.parse(e.occurred_at));
      for (let i = 1; i < times.length; i++) expect(times[i]).toBeGreaterThan(times[i - 1]!);
    });

    it('on an upload failure deletes the image and gives the instance back its state, not ERROR', async () => {
      const id = await running();
      const image = uploads.queue();
      uploads.failUpload = 'image service down';
      await manager.snapshot(id, image);
      expect(outbox.states(id).at(-1)).toBe('active/-/1');
      expect(outbox.events.every((e) => e.fault === null)).toBe(true);
      expect(uploads.discarded).toEqual([image]);
      expect(readdirSync(snapshotDir)).toEqual([]);
    });

    it('on a hypervisor failure deletes the image and clears the task', async () => {
      await manager.build(buildRequest({ instance_id: doomedSnapshot }));
      const image = uploads.queue();
      await manager.snapshot(doomedSnapshot, image);
      expect(outbox.states(doomedSnapshot).at(-1)).toBe('active/-/1');
      expect(uploads.images.has(image)).toBe(false);
      expect(uploads.uploads).toBe(0);
    });

    it('after a redelivery finds the image active, only reports the task done', async () => {
      const id = await running();
      const image = uploads.queue();
      await manager.snapshot(id, image);
      outbox.events.length = 0;
      await manager.snapshot(id, image);
      expect(outbox.states(id)).toEqual(['active/-/1']);
      expect(uploads.uploads).toBe(1);
      expect(uploads.discarded).toEqual([]);
    });

    it('does nothing but clear the task when the image was deleted meanwhile', async () => {
      const id = await running();
      await manager.snapshot(id, randomUUID());
      expect(outbox.states(id)).toEqual(['active/-/1']);
      expect(uploads.uploads).toBe(0);
    });

    it('refuses an image that is not queued any more, deleting it', async () => {
      const id = await running();
      const image = uploads.queue();
      uploads.images.get(image)!.status = 'saving';
      await manager.snapshot(id, image);
      expect(outbox.states(id)).toEqual(['active/-/1']);
      expect(uploads.discarded).toEqual([image]);
    });

    it('reports a guest this host does not have as an error with a 404 fault, and deletes the image', async () => {
      const id = randomUUID();
      const image = uploads.queue();
      await manager.snapshot(id, image);
      expect(outbox.events).toEqual([
        expect.objectContaining({
          instance_id: id,
          vm_state: 'error',
          fault: expect.objectContaining({ code: 404 }),
        }),
      ]);
      expect(uploads.discarded).toEqual([image]);
    });

    it('runs after the operations already under way on the same instance', async () => {
      const id = await running();
      const image = uploads.queue();
      await Promise.all([manager.stop(id), manager.snapshot(id, image)]);
      expect(outbox.states(id)).toEqual([
        'stopped/-/4',
        'stopped/image_snapshot_pending/4',
        'stopped/image_uploading/4',
        'stopped/-/4',
      ]);
    });
  });
});
