/**
 * The one HypervisorDriver contract suite. FakeDriver runs it as a unit test and
 * LibvirtDriver against libvirt's test:///default as an integration test, so the fake
 * cannot drift from the real thing.
 */
import { randomUUID } from 'node:crypto';
import { POWER_STATE, sampleImage } from '@strato/contracts';
import type { GuestSpec, HypervisorDriver } from './hypervisor-driver';

export function guestSpec(overrides: Partial<GuestSpec> = {}): GuestSpec {
  return {
    instanceId: randomUUID(),
    projectId: 'project-1',
    displayName: 'web-1',
    flavorName: 'm1.tiny',
    vcpus: 1,
    memoryMb: 128,
    rootDiskGb: 1,
    ephemeralGb: 0,
    extraSpecs: {},
    imageId: 'image-1',
    image: sampleImage({ id: 'image-1' }),
    metadata: {},
    userData: null,
    keyData: null,
    keyName: null,
    ...overrides,
  };
}

export function driverContract(
  name: string,
  setup: () => Promise<{ driver: HypervisorDriver; cleanup?: () => Promise<void> }>,
): void {
  describe(`HypervisorDriver contract: ${name}`, () => {
    let driver: HypervisorDriver;
    let cleanup: (() => Promise<void>) | undefined;

    beforeEach(async () => {
      ({ driver, cleanup } = await setup());
    });
    afterEach(async () => {
      await driver.close();
      await cleanup?.();
    });

    it('reports an inventory with CPUs, memory and disk', async () => {
      const inv = await driver.inventory();
      expect(inv.vcpus).toBeGreaterThan(0);
      expect(inv.memoryMb).toBeGreaterThan(0);
      expect(inv.diskGb).toBeGreaterThanOrEqual(0);
      expect(inv.hypervisorType.length).toBeGreaterThan(0);
      expect(() => JSON.parse(inv.cpuInfo) as unknown).not.toThrow();
    });

    it('lists only the guests it made', async () => {
      expect(await driver.list()).toEqual([]);
    });

    it('spawns a running guest, visible by id and in the list', async () => {
      const spec = guestSpec({ vcpus: 2, memoryMb: 256 });
      const info = await driver.spawn(spec);
      expect(info).toMatchObject({
        instanceId: spec.instanceId,
        powerState: POWER_STATE.RUNNING,
        vcpus: 2,
        memoryMb: 256,
      });
      expect(await driver.getInfo(spec.instanceId)).toMatchObject({ powerState: POWER_STATE.RUNNING });
      expect((await driver.list()).map((g) => g.instanceId)).toEqual([spec.instanceId]);
    });

    it('refuses a second guest with the same instance id and leaves the first alone', async () => {
      const spec = guestSpec();
      await driver.spawn(spec);
      await expect(driver.spawn({ ...spec, memoryMb: 512 })).rejects.toMatchObject({ kind: 'Conflict' });
      expect(await driver.getInfo(spec.instanceId)).toMatchObject({
        powerState: POWER_STATE.RUNNING,
        memoryMb: 128,
      });
    });

    it('leaves nothing behind when spawning fails', async () => {
      const spec = guestSpec({ vcpus: 0 });
      await expect(driver.spawn(spec)).rejects.toMatchObject({ kind: 'Invalid' });
      expect(await driver.list()).toEqual([]);
      await expect(driver.getInfo(spec.instanceId)).rejects.toMatchObject({ kind: 'NotFound' });
    });

    it('keeps a display name full of XML metacharacters, 10 KiB long, out of harm', async () => {
      const spec = guestSpec({ displayName: `</name><evil/>&'"]]>`.repeat(512) });
      await expect(driver.spawn(spec)).resolves.toMatchObject({ powerState: POWER_STATE.RUNNING });
    });

    it('destroys a guest, and destroying it again resolves', async () => {
      const spec = guestSpec();
      await driver.spawn(spec);
      await driver.destroy(spec.instanceId);
      await expect(driver.getInfo(spec.instanceId)).rejects.toMatchObject({ kind: 'NotFound' });
      await expect(driver.destroy(spec.instanceId)).resolves.toBeUndefined();
      await expect(driver.destroy(randomUUID())).resolves.toBeUndefined();
      expect(await driver.list()).toEqual([]);
    });

    it('powers off and on, each idempotent', async () => {
      const spec = guestSpec();
      await driver.spawn(spec);
      await driver.powerOff(spec.instanceId);
      await driver.powerOff(spec.instanceId);
      expect((await driver.getInfo(spec.instanceId)).powerState).toBe(POWER_STATE.SHUTDOWN);
      await driver.powerOn(spec.instanceId);
      await driver.powerOn(spec.instanceId);
      expect((await driver.getInfo(spec.instanceId)).powerState).toBe(POWER_STATE.RUNNING);
    });

    it.each(['SOFT', 'HARD'] as const)(
      'reboots (%s) to a running guest, starting a stopped one',
      async (type) => {
        const spec = guestSpec();
        await driver.spawn(spec);
        await driver.reboot(spec.instanceId, type);
        expect((await driver.getInfo(spec.instanceId)).powerState).toBe(POWER_STATE.RUNNING);
        await driver.powerOff(spec.instanceId);
        await driver.reboot(spec.instanceId, type);
        expect((await driver.getInfo(spec.instanceId)).powerState).toBe(POWER_STATE.RUNNING);
      },
    );

    it('answers NotFound for every operation on a guest that does not exist', async () => {
      const id = randomUUID();
      await expect(driver.getInfo(id)).rejects.toMatchObject({ kind: 'NotFound' });
      await expect(driver.powerOn(id)).rejects.toMatchObject({ kind: 'NotFound' });
      await expect(driver.powerOff(id)).rejects.toMatchObject({ kind: 'NotFound' });
      await expect(driver.reboot(id, 'SOFT')).rejects.toMatchObject({ kind: 'NotFound' });
      await expect(driver.consoleOutput(id, null)).rejects.toMatchObject({ kind: 'NotFound' });
    });

    it('returns the console log as text, tailed to the lines asked for', async () => {
      const spec = guestSpec();
      await driver.spawn(spec);
      await driver.powerOff(spec.instanceId);
      await driver.powerOn(spec.instanceId);
      const all = await driver.consoleOutput(spec.instanceId, null);
      expect(typeof all).toBe('string');
      const last = await driver.consoleOutput(spec.instanceId, 1);
      expect(last.split('\n').filter(Boolean).length).toBeLessThanOrEqual(1);
      expect(all.endsWith(last)).toBe(true);
      expect(await driver.consoleOutput(spec.instanceId, 0)).toBe('');
    });
  });
}
