import { randomUUID } from 'node:crypto';

import { buildDomainXml, type DomainSpec } from '../../src/domain-xml';

export const TEST_URI = 'test:///default';

/** A small guest for libvirt's in-library test driver (no files are touched there). */
export function testGuest(overrides: Partial<DomainSpec> = {}): DomainSpec {
  const uuid = randomUUID();
  return {
    name: `instance-${uuid}`,
    uuid,
    type: 'test',
    memoryMiB: 128,
    vcpus: 1,
    os: {
      boot: 'kernel',
      kernel: '/var/lib/strato/kernel',
      initrd: '/var/lib/strato/initrd',
      cmdline: 'console=ttyS0',
    },
    disks: [{ path: `/var/lib/strato/${uuid}/disk.qcow2`, format: 'qcow2', targetDev: 'vda' }],
    interfaces: [{ network: 'default' }],
    serialLogPath: `/var/lib/strato/${uuid}/console.log`,
    metadata: { instanceId: uuid, projectId: 'project-1', flavorName: 'm1.tiny', displayName: 'web-1' },
    ...overrides,
  };
}

export const testGuestXml = (overrides: Partial<DomainSpec> = {}) => buildDomainXml(testGuest(overrides));
