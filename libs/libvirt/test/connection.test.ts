import { randomUUID } from 'node:crypto';
import { threadId as mainThreadId } from 'node:worker_threads';

import { LibvirtConnection, buildDomainXml, buildNatNetworkXml, isLibvirtError } from '../src';
import { findElement, parseXml, textOf } from './support/mini-xml';
import { TEST_URI, testGuest, testGuestXml } from './support/fixtures';

describe('LibvirtConnection against test:///default', () => {
  let conn: LibvirtConnection;

  beforeEach(async () => {
    conn = await LibvirtConnection.open(TEST_URI);
  });

  afterEach(async () => {
    await conn.close();
  });

  describe('opening and closing', () => {
    it('opens and closes, and close is idempotent', async () => {
      const other = await LibvirtConnection.open(TEST_URI, { threads: 1 });
      expect(other.uri).toBe(TEST_URI);
      await other.close();
      await other.close();
      expect(other.closed).toBe(true);
    });

    it('rejects calls after close with kind ConnectionFailed', async () => {
      const other = await LibvirtConnection.open(TEST_URI);
      await other.close();
      await expect(other.hostname()).rejects.toMatchObject({
        name: 'LibvirtError',
        kind: 'ConnectionFailed',
      });
    });

    it('fails to open an unreachable hypervisor with kind ConnectionFailed', async () => {
      await expect(
        LibvirtConnection.open('qemu+unix:///system?socket=/nonexistent/strato.sock'),
      ).rejects.toMatchObject({
        kind: 'ConnectionFailed',
      });
    });

    it('rejects a thread count out of range', async () => {
      await expect(LibvirtConnection.open(TEST_URI, { threads: 0 })).rejects.toThrow(RangeError);
    });
  });

  describe('host information', () => {
    it('reports the node: CPUs, memory in KiB and clock speed', async () => {
      const node = await conn.nodeInfo();
      expect(node.cpus).toBeGreaterThan(0);
      expect(node.memoryKiB).toBeGreaterThan(0);
      expect(node.mhz).toBeGreaterThan(0);
      expect(typeof node.model).toBe('string');
    });

    it('reports driver, hypervisor and library versions', async () => {
      const version = await conn.version();
      expect(version.driver).toBe('TEST');
      expect(version.library).toMatch(/^\d+\.\d+\.\d+$/);
      expect(version.hypervisor).toMatch(/^\d+\.\d+\.\d+$/);
    });

    it('reports a hostname and capabilities XML', async () => {
      expect((await conn.hostname()).length).toBeGreaterThan(0);
      expect(await conn.capabilities()).toContain('<capabilities>');
      expect(await conn.isAlive()).toBe(true);
    });
  });

  describe('listing', () => {
    it("lists the driver's default 'test' domain as a plain record", async () => {
      const domains = await conn.listDomains();
      const test = domains.find((d) => d.name === 'test');
      expect(test).toEqual({
        name: 'test',
        uuid: expect.stringMatching(/^[0-9a-f-]{36}$/),
        state: 'running',
        maxMemKiB: expect.any(Number),
        memKiB: expect.any(Number),
        vcpus: expect.any(Number),
        cpuTimeNs: expect.any(Number),
      });
    });

    it('lists defined domains alongside running ones', async () => {
      const guest = testGuest();
      await conn.define(buildDomainXml(guest));
      const listed = (await conn.listDomains()).find((d) => d.uuid === guest.uuid);
      expect(listed).toMatchObject({ name: guest.name, state: 'shutoff', maxMemKiB: 128 * 1024, vcpus: 1 });
    });
  });

  describe('domain lifecycle', () => {
    it('defines and starts a domain from generated XML', async () => {
      const guest = testGuest();
      const started = await conn.defineAndStart(buildDomainXml(guest));
      expect(started).toMatchObject({ name: guest.name, uuid: guest.uuid, state: 'running', vcpus: 1 });
      expect(await conn.isActive({ uuid: guest.uuid })).toBe(true);
      expect(await conn.isPersistent({ uuid: guest.uuid })).toBe(true);
      expect(await conn.getInfo({ uuid: guest.uuid })).toMatchObject({
        state: 'running',
        maxMemKiB: 128 * 1024,
        memKiB: 128 * 1024,
        vcpus: 1,
      });
      expect((await conn.getState({ name: guest.name })).state).toBe('running');
      expect(await conn.lookupRecord({ name: guest.name })).toEqual({
        ...started,
        cpuTimeNs: expect.any(Number),
      });
      await conn.destroy({ uuid: guest.uuid });
      expect(await conn.lookupRecord({ uuid: guest.uuid })).toMatchObject({
        uuid: guest.uuid,
        state: 'shutoff',
      });
      await expect(conn.lookupRecord({ uuid: '00000000-0000-4000-8000-000000000000' })).rejects.toMatchObject(
        {
          kind: 'NoDomain',
        },
      );
    });

    it('shuts a domain down (ACPI) and starts it again', async () => {
      const guest = testGuest();
      await conn.defineAndStart(buildDomainXml(guest));
      await conn.shutdown({ uuid: guest.uuid });
      expect((await conn.getState({ uuid: guest.uuid })).state).toBe('shutoff');
      await conn.start({ uuid: guest.uuid });
      expect(await conn.isActive({ uuid: guest.uuid })).toBe(true);
    });

    it('reboots and resets a running domain', async () => {
      const guest = testGuest();
      await conn.defineAndStart(buildDomainXml(guest));
      await conn.reboot({ uuid: guest.uuid });
      await conn.reset({ uuid: guest.uuid });
      expect((await conn.getState({ uuid: guest.uuid })).state).toBe('running');
    });

    it('destroys and undefines a domain, after which it is gone', async () => {
      const guest = testGuest();
      await conn.defineAndStart(buildDomainXml(guest));
      await conn.destroy({ uuid: guest.uuid });
      expect(await conn.isActive({ uuid: guest.uuid })).toBe(false);
      await conn.undefine({ uuid: guest.uuid });
      await expect(conn.lookup({ uuid: guest.uuid })).rejects.toMatchObject({ kind: 'NoDomain' });
    });

    it('creates a transient domain that vanishes when destroyed', async () => {
      const guest = testGuest();
      await conn.createTransient(buildDomainXml(guest));
      expect(await conn.isPersistent({ uuid: guest.uuid })).toBe(false);
      await conn.destroy({ uuid: guest.uuid });
      await expect(conn.lookup({ uuid: guest.uuid })).rejects.toMatchObject({ kind: 'NoDomain' });
    });

    it('returns the stored XML with the escaped title and metadata intact', async () => {
      const guest = testGuest();
      await conn.define(buildDomainXml(guest));
      const root = parseXml(await conn.getXml({ uuid: guest.uuid }));
      expect(textOf(findElement(root, 'title'))).toBe('web-1');
      expect(textOf(findElement(root, 'metadata/strato:instance/strato:flavor'))).toBe('m1.tiny');
    });
    it.each([
      ['full of XML metacharacters', `<name>evil</name>&amp;"'<!-- ]]> </domain>`],
      ['of 10 KiB', '<&>"\']]>'.repeat(1280)],
    ])('stores a display name %s safely and reads it back unchanged', async (_what, displayName) => {
      const guest = testGuest({
        metadata: { instanceId: 'i-1', projectId: 'p-1', flavorName: 'm1.tiny', displayName },
      });
      await conn.define(buildDomainXml(guest));
      const root = parseXml(await conn.getXml({ uuid: guest.uuid }));
      expect(textOf(findElement(root, 'name'))).toBe(guest.name);
      expect(textOf(findElement(root, 'title'))).toBe(displayName);
      expect(textOf(findElement(root, 'metadata/strato:instance/strato:displayName'))).toBe(displayName);
    });
  });

  describe('errors', () => {
    it('rejects a lookup of a missing domain with kind NoDomain (VIR_ERR_NO_DOMAIN)', async () => {
      const err: unknown = await conn.lookup({ name: 'no-such-domain' }).catch((e: unknown) => e);
      expect(isLibvirtError(err, 'NoDomain')).toBe(true);
      expect(err).toMatchObject({ code: 42, message: expect.stringContaining('no-such-domain') });
    });

    it('rejects operations on a missing UUID with kind NoDomain', async () => {
      await expect(conn.destroy({ uuid: '00000000-0000-4000-8000-000000000000' })).rejects.toMatchObject({
        kind: 'NoDomain',
      });
    });

    it('rejects destroying a stopped domain with kind OperationInvalid', async () => {
      const guest = testGuest();
      await conn.define(buildDomainXml(guest));
      await expect(conn.destroy({ uuid: guest.uuid })).rejects.toMatchObject({ kind: 'OperationInvalid' });
    });

    it('rejects a second domain with the same name and another UUID (libvirt says OperationFailed)', async () => {
      const guest = testGuest();
      await conn.defineAndStart(buildDomainXml(guest));
      const clash = testGuest({ name: guest.name });
      await expect(conn.define(buildDomainXml(clash))).rejects.toMatchObject({
        kind: 'OperationFailed',
        message: expect.stringContaining('already exists'),
      });
    });

    it('rejects malformed XML with kind InvalidXml', async () => {
      await expect(conn.define('<domain')).rejects.toMatchObject({ kind: 'InvalidXml' });
    });

    it('keeps each call its own error when failing calls run concurrently', async () => {
      const guest = testGuest();
      await conn.define(buildDomainXml(guest));
      const outcomes = await Promise.allSettled(
        Array.from({ length: 40 }, (_, i) =>
          i % 2 === 0 ? conn.lookup({ name: `missing-${i}` }) : conn.destroy({ uuid: guest.uuid }),
        ),
      );
      outcomes.forEach((outcome, i) => {
        expect(outcome.status).toBe('rejected');
        const reason = (outcome as PromiseRejectedResult).reason as { kind: string; message: string };
        if (i % 2 === 0)
          expect(reason).toMatchObject({
            kind: 'NoDomain',
            message: expect.stringContaining(`missing-${i}`),
          });
        else expect(reason.kind).toBe('OperationInvalid');
      });
    });
  });

  describe('threading', () => {
    it('runs libvirt calls on a call thread, never on the JS thread', async () => {
      // Structural, not timed: a call that blocks for seconds on qemu:///system blocks only
      // that thread, so there is no event-loop lag to measure here.
      const threadIds = await Promise.all(Array.from({ length: 8 }, () => conn.callThreadId()));
      for (const id of threadIds) expect(id).not.toBe(mainThreadId);
    });

    it('completes many concurrent calls with correct results', async () => {
      const guests = Array.from({ length: 20 }, () => testGuest());
      await Promise.all(guests.map((g) => conn.defineAndStart(buildDomainXml(g))));
      const infos = await Promise.all(
        Array.from({ length: 300 }, (_, i) => conn.lookup({ uuid: guests[i % guests.length]!.uuid })),
      );
      infos.forEach((identity, i) => expect(identity.uuid).toBe(guests[i % guests.length]!.uuid));
      const listed = await conn.listDomains();
      for (const g of guests)
        expect(listed.some((d) => d.uuid === g.uuid && d.state === 'running')).toBe(true);
    });

    it('waits for in-flight calls before closing', async () => {
      const other = await LibvirtConnection.open(TEST_URI);
      const pending = Promise.all(Array.from({ length: 50 }, () => other.listDomains()));
      await other.close();
      const results = await pending;
      expect(results).toHaveLength(50);
    });
  });

  describe('pausing', () => {
    it('suspends a running guest and resumes it', async () => {
      const guest = testGuest();
      await conn.defineAndStart(buildDomainXml(guest));
      await conn.suspend({ uuid: guest.uuid });
      expect((await conn.getState({ uuid: guest.uuid })).state).toBe('paused');
      await conn.resume({ uuid: guest.uuid });
      expect((await conn.getState({ uuid: guest.uuid })).state).toBe('running');
    });

    it('refuses to resume a guest that is not paused, with a LibvirtError', async () => {
      const guest = testGuest();
      await conn.defineAndStart(buildDomainXml(guest));
      await expect(conn.resume({ uuid: guest.uuid })).rejects.toMatchObject({ name: 'LibvirtError' });
    });
  });

  describe('virtual networks', () => {
    const name = () => `strato-net-${randomUUID().slice(0, 8)}`;
    const natXml = (n: string) =>
      buildNatNetworkXml({
        name: n,
        address: '10.254.1.1',
        prefix: 24,
        dhcpStart: '10.254.1.10',
        dhcpEnd: '10.254.1.200',
      });

    it('answers NoNetwork for a network that does not exist', async () => {
      await expect(conn.lookupNetwork('strato-none')).rejects.toMatchObject({
        name: 'LibvirtError',
        kind: 'NoNetwork',
      });
    });

    it('defines, starts, marks autostart, stops and undefines a NAT network', async () => {
      const n = name();
      await conn.defineNetwork(natXml(n));
      expect(await conn.lookupNetwork(n)).toEqual({ name: n, active: false, autostart: false });
      await conn.startNetwork(n);
      await conn.setNetworkAutostart(n, true);
      expect(await conn.lookupNetwork(n)).toEqual({ name: n, active: true, autostart: true });
      expect(await conn.getNetworkXml(n)).toContain("<forward mode='nat'");
      await conn.stopNetwork(n);
      expect((await conn.lookupNetwork(n)).active).toBe(false);
      await conn.undefineNetwork(n);
      await expect(conn.lookupNetwork(n)).rejects.toMatchObject({ kind: 'NoNetwork' });
    });
  });

  it('defines a domain from the fixture XML helper', async () => {
    const xml = testGuestXml();
    await expect(conn.define(xml)).resolves.toMatchObject({ name: expect.stringMatching(/^instance-/) });
  });
});
