import { POWER_STATE } from '@strato/contracts';
import { driverContract, guestSpec } from './driver.contract';
import { FakeDriver } from './fake.driver';
import { tailLines } from './hypervisor-driver';

driverContract('FakeDriver', async () => ({ driver: new FakeDriver() }));

describe('FakeDriver', () => {
  it('fails spawning on demand, leaving nothing behind', async () => {
    const driver = new FakeDriver({ failSpawn: () => 'no space left on device' });
    const spec = guestSpec();
    await expect(driver.spawn(spec)).rejects.toThrow('no space left on device');
    expect(await driver.list()).toEqual([]);
  });

  it('lets a test change power state behind the agent', async () => {
    const driver = new FakeDriver();
    const spec = guestSpec();
    await driver.spawn(spec);
    driver.simulatePowerChange(spec.instanceId, POWER_STATE.SHUTDOWN);
    expect((await driver.getInfo(spec.instanceId)).powerState).toBe(POWER_STATE.SHUTDOWN);
  });
});

describe('tailLines', () => {
  it('keeps the last n lines and the trailing newline', () => {
    expect(tailLines('a\nb\nc\n', 2)).toBe('b\nc\n');
    expect(tailLines('a\nb\nc', 1)).toBe('c');
    expect(tailLines('a\n', null)).toBe('a\n');
    expect(tailLines('a\n', 0)).toBe('');
  });
});
