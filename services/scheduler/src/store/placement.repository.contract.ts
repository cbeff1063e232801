/** The placement store's behaviour, shared by the SQLite and PostgreSQL suites. */
import { randomUUID } from 'node:crypto';
import type { DataSource } from '@strato/db';
import { PlacementRepository, type ProviderReport } from './placement.repository';

const report = (
  host: string,
  inventory: ProviderReport['inventory'],
  reportedAt = '2026-01-01T00:00:00.000Z',
) => ({
  host,
  availabilityZone: 'nova',
  hypervisorType: 'QEMU',
  hypervisorVersion: 1,
  hostIp: '127.0.0.1',
  architecture: 'x86_64',
  cpuInfo: '{}',
  capabilities: {},
  traits: [],
  inventory,
  reportedAt,
});
const inv = (total: number, reserved = 0, allocationRatio = 1) => ({ total, reserved, allocationRatio });
const small = { VCPU: 1, MEMORY_MB: 1024, DISK_GB: 10 };

/**
 * One behaviour suite for the placement store on both engines (its claims take different
 * paths on PostgreSQL). `open` gives a fresh, migrated database for each test.
 */
export function placementRepositoryContract(
  name: string,
  open: () => Promise<DataSource>,
  close: (ds: DataSource) => Promise<void>,
): void {
  describe(`PlacementRepository (${name})`, () => {
    let ds: DataSource;
    let repo: PlacementRepository;

    beforeEach(async () => {
      ds = await open();
      repo = new PlacementRepository(ds);
      await repo.applyReport(report('node1', { VCPU: inv(4), MEMORY_MB: inv(4096), DISK_GB: inv(100) }));
    });
    afterEach(() => close(ds));

    async function admitted(instanceId = randomUUID(), attempt = 1, group: string | null = null) {
      await repo.admit({ instanceId, attempt, serverGroupId: group, excludedHosts: [], body: '{}' });
      return instanceId;
    }
    const claim = (instanceId: string, host = 'node1', resources = small, group = null as never) =>
      repo.claim({ instanceId, attempt: 1, host, resources, group });

    it('claims until the inventory is used up, then refuses', async () => {
      const results = [];
      for (let i = 0; i < 5; i++) results.push(await claim(await admitted()));
      expect(results.map((r) => r.ok)).toEqual([true, true, true, true, false]);
      expect(results[4]).toEqual({ ok: false, reason: 'capacity' });
      const [snapshot] = await repo.snapshot();
      expect(snapshot!.inventory.MEMORY_MB!.used).toBe(4096);
      expect(snapshot!.instanceCount).toBe(4);
    });

    it('keeps the reserved part and applies the allocation ratio', async () => {
      await repo.applyReport(
        report(
          'node1',
          { VCPU: inv(4, 0, 2), MEMORY_MB: inv(4096, 2048), DISK_GB: inv(100) },
          '2026-01-02T00:00:00.000Z',
        ),
      );
      expect((await claim(await admitted(), 'node1', { VCPU: 8, MEMORY_MB: 2048, DISK_GB: 0 })).ok).toBe(
        true,
      );
      expect((await claim(await admitted(), 'node1', { VCPU: 1, MEMORY_MB: 1, DISK_GB: 0 })).ok).toBe(false);
    });

    it('claims for one instance only once, however often it is repeated', async () => {
      const id = await admitted();
      expect((await claim(id)).ok).toBe(true);
      expect(await claim(id)).toEqual({ ok: false, reason: 'stale' });
      expect(await repo.allocationsOf(id)).toHaveLength(3);
    });

    it('refuses a claim on a disabled or unknown host', async () => {
      await repo.setEnabled('node1', false, 'maintenance');
      expect(await claim(await admitted())).toEqual({ ok: false, reason: 'disabled' });
      expect(await claim(await admitted(), 'nowhere')).toEqual({ ok: false, reason: 'gone' });
    });

    it('refuses a claim on a host forced down, until that is lifted', async () => {
      await repo.setForcedDown('node1', true);
      expect(await claim(await admitted())).toEqual({ ok: false, reason: 'disabled' });
      await repo.setForcedDown('node1', false);
      expect((await claim(await admitted())).ok).toBe(true);
    });

    it('re-checks anti-affinity inside the claim', async () => {
      await repo.applyReport(report('node2', { VCPU: inv(4), MEMORY_MB: inv(4096), DISK_GB: inv(100) }));
      const group = { id: 'g1', policy: 'anti-affinity', hosts: new Set<string>() };
      const a = await admitted(randomUUID(), 1, 'g1');
      const b = await admitted(randomUUID(), 1, 'g1');
      expect(
        (await repo.claim({ instanceId: a, attempt: 1, host: 'node1', resources: small, group })).ok,
      ).toBe(true);
      expect(await repo.claim({ instanceId: b, attempt: 1, host: 'node1', resources: small, group })).toEqual(
        {
          ok: false,
          reason: 'group',
        },
      );
      expect(
        (await repo.claim({ instanceId: b, attempt: 1, host: 'node2', resources: small, group })).ok,
      ).toBe(true);
    });

    it('frees the claim of a failed build and moves to the next attempt, then to error', async () => {
      const id = await admitted();
      await claim(id);
      const fault = { code: 500, message: 'x', details: null };
      const first = await repo.failBuild({
        instanceId: id,
        host: 'node1',
        attempt: 1,
        maxAttempts: 2,
        fault,
      });
      expect(first).toMatchObject({ outcome: 'reschedule', row: { attempt: 2, status: 'scheduling' } });
      expect(await repo.allocationsOf(id)).toEqual([]);
      expect(
        await repo.failBuild({ instanceId: id, host: 'node1', attempt: 1, maxAttempts: 2, fault }),
      ).toMatchObject({
        outcome: 'ignored',
      });
      expect(
        (await repo.claim({ instanceId: id, attempt: 2, host: 'node1', resources: small, group: null })).ok,
      ).toBe(true);
      expect(
        await repo.failBuild({ instanceId: id, host: 'node1', attempt: 2, maxAttempts: 2, fault }),
      ).toMatchObject({
        outcome: 'exhausted',
        row: { status: 'error' },
      });
    });

    it('leaves a tombstone on release so a late schedule request is dropped', async () => {
      const id = randomUUID();
      expect(await repo.release(id)).toBeNull();
      expect(
        await repo.admit({ instanceId: id, attempt: 1, serverGroupId: null, excludedHosts: [], body: '{}' }),
      ).toEqual({
        action: 'drop',
        why: 'the instance was deleted',
      });
    });

    it('says to re-send the build when a placed request is delivered again', async () => {
      const id = await admitted();
      await claim(id);
      const again = await repo.admit({
        instanceId: id,
        attempt: 1,
        serverGroupId: null,
        excludedHosts: [],
        body: '{}',
      });
      expect(again).toMatchObject({ action: 'resend-build', row: { host: 'node1' } });
    });

    it('ignores a report older than the one applied', async () => {
      expect(await repo.applyReport(report('node1', { VCPU: inv(1) }, '2025-01-01T00:00:00.000Z'))).toBe(
        'stale',
      );
      const [snapshot] = await repo.snapshot();
      expect(snapshot!.inventory.VCPU!.total).toBe(4);
    });
  });
}
