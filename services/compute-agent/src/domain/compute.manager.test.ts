import { randomUUID } from 'node:crypto';
import { POWER_STATE, sampleFlavor, sampleImage, sampleInstanceSpec } from '@strato/contracts';
import { createLogger } from '@strato/log';
import { guestSpec } from '../driver/driver.contract';
import { FakeDriver } from '../driver/fake.driver';
import { ComputeManager, type AgentOutbox, type BuildRequest, type StateChanged } from './compute.manager';

const log = createLogger('manager-test', { level: 'silent' });

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

describe('ComputeManager', () => {
  let driver: FakeDriver;
  let outbox: Recorder;
  let manager: ComputeManager;

  beforeEach(() => {
    driver = new FakeDriver({
      failSpawn: (spec) => (spec.displayName === 'doomed' ? 'image download failed' : null),
    });
    outbox = new Recorder();
    manager = new ComputeManager({ host: 'node1', driver, outbox, log });
  });

  it('builds a guest and reports spawning, then active and running', async () => {
    const req = buildRequest();
    await manager.build(req);
    expect(outbox.states(req.instance_id)).toEqual(['building/spawning/0', 'active/-/1']);
    expect(outbox.events.at(-1)).toMatchObject({ host: 'node1', attempt: 1 });
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
  });

  it('reports the guests libvirt has at start, for the api to reconcile', async () => {
    const req = buildRequest();
    await driver.spawn(guestSpec({ instanceId: req.instance_id }));
    expect(await manager.reconcile()).toBe(1);
    expect(outbox.reports[0]!.instances).toEqual([
      { instance_id: req.instance_id, power_state: POWER_STATE.RUNNING },
    ]);
  });
});
