import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LibvirtConnection } from '@strato/libvirt';
import { createLogger } from '@strato/log';
import { driverContract, guestSpec } from '../../src/driver/driver.contract';
import { LibvirtDriver, domainName } from '../../src/driver/libvirt.driver';

const log = createLogger('libvirt-driver-test', { level: 'silent' });
const URI = 'test:///default';

async function open() {
  const dir = await mkdtemp(join(tmpdir(), 'strato-instances-'));
  const driver = await LibvirtDriver.open({ uri: URI, instancesDir: dir, diskGb: 100, log });
  return { driver, dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

driverContract('LibvirtDriver on test:///default', open);

describe('LibvirtDriver specifics', () => {
  it("names the domain after the instance and keeps the user's name only in the escaped title", async () => {
    const { driver, cleanup } = await open();
    const spec = guestSpec({ displayName: `<b>&"web"</b>` });
    await driver.spawn(spec);
    const conn = (driver as unknown as { conn: LibvirtConnection }).conn;
    const xml = await conn.getXml({ uuid: spec.instanceId });
    expect(xml).toContain(`<name>${domainName(spec.instanceId)}</name>`);
    expect(xml).toContain('<title>&lt;b&gt;&amp;&quot;web&quot;&lt;/b&gt;</title>');
    await driver.close();
    await cleanup();
  });

  it("writes honest, agent-marked console lines for the test hypervisor's guests, and removes them on destroy", async () => {
    const { driver, dir, cleanup } = await open();
    const spec = guestSpec();
    await driver.spawn(spec);
    expect(driver.capabilities.consoleLog).toBe(false);
    expect(await driver.consoleOutput(spec.instanceId, null)).toMatch(
      /^\[strato compute-agent .*\] guest instance-.* defined and started \(libvirt test driver: no guest OS runs/,
    );
    await driver.destroy(spec.instanceId);
    await expect(readFile(join(dir, spec.instanceId, 'console.log'))).rejects.toMatchObject({
      code: 'ENOENT',
    });
    await driver.close();
    await cleanup();
  });

  it('keeps agents in one process apart although test:///default state is process-wide', async () => {
    const one = await open();
    const two = await open();
    const spec = guestSpec();
    await one.driver.spawn(spec);
    expect(await two.driver.list()).toEqual([]);
    await expect(two.driver.getInfo(spec.instanceId)).rejects.toMatchObject({ kind: 'NotFound' });
    await two.driver.destroy(spec.instanceId);
    expect((await one.driver.getInfo(spec.instanceId)).powerState).toBe(1);
    await expect(two.driver.spawn(spec)).rejects.toMatchObject({ kind: 'Conflict' });
    for (const x of [one, two]) {
      await x.driver.close();
      await x.cleanup();
    }
  });
});
