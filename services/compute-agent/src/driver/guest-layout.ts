/**
 * A real guest's files and its domain definition, as pure functions of the spec.
 *
 *   <instancesDir>/<uuid>/disk          root disk: qcow2 overlay on the cached image
 *   <instancesDir>/<uuid>/disk.eph0     ephemeral disk (qcow2, empty) when the flavor has one
 *   <instancesDir>/<uuid>/disk.config   config drive (ISO 9660, label config-2)
 *   <instancesDir>/<uuid>/kernel, ramdisk   copies of the AKI/ARI images (direct kernel boot)
 *   <instancesDir>/<uuid>/console.log   the serial console
 */
import { join } from 'node:path';
import type { DiskSpec, DomainSpec, InterfaceSpec, VcpuPin } from '@strato/libvirt';
import type { GuestSpec } from './hypervisor-driver';
import type { ResourceControls } from './resource-controls';
import type { VirtType } from './virt-type';

export const DEFAULT_KERNEL_CMDLINE = 'console=ttyS0 root=/dev/vda rw';

export type ConfigDriveBus = 'ide' | 'sata' | 'virtio';

export interface GuestPaths {
  dir: string;
  disk: string;
  ephemeral: string;
  configDrive: string;
  kernel: string;
  ramdisk: string;
  console: string;
}

export function guestPaths(instancesDir: string, instanceId: string): GuestPaths {
  const dir = join(instancesDir, instanceId);
  return {
    dir,
    disk: join(dir, 'disk'),
    ephemeral: join(dir, 'disk.eph0'),
    configDrive: join(dir, 'disk.config'),
    kernel: join(dir, 'kernel'),
    ramdisk: join(dir, 'ramdisk'),
    console: join(dir, 'console.log'),
  };
}

export interface GuestLayout {
  virtType: VirtType;
  paths: GuestPaths;
  hasEphemeral: boolean;
  /** null: no config drive. */
  configDriveBus: ConfigDriveBus | null;
  /** Direct kernel boot (the image's kernel_id/ramdisk_id), else the firmware boots the disk. */
  kernel: { ramdisk: boolean; cmdline: string } | null;
  /** The libvirt network for the one NIC, or null for none. */
  network: string | null;
  controls: ResourceControls;
  vcpuPins: readonly VcpuPin[];
}

function configDriveDisk(path: string, bus: ConfigDriveBus): DiskSpec {
  switch (bus) {
    case 'virtio':
      return { path, format: 'raw', targetDev: 'vdz', bus: 'virtio', readonly: true };
    case 'sata':
      return { path, format: 'raw', targetDev: 'sda', bus: 'sata', device: 'cdrom' };
    case 'ide':
      return { path, format: 'raw', targetDev: 'hda', bus: 'ide', device: 'cdrom' };
  }
}

/** The domain for a real (qemu/kvm) guest: disks, NIC, console and resource controls. */
export function guestDomainSpec(spec: GuestSpec, layout: GuestLayout): DomainSpec {
  const { paths, controls } = layout;
  const iotune = controls.iotune ? { iotune: controls.iotune } : {};
  const disks: DiskSpec[] = [{ path: paths.disk, format: 'qcow2', targetDev: 'vda', ...iotune }];
  if (layout.hasEphemeral)
    disks.push({ path: paths.ephemeral, format: 'qcow2', targetDev: 'vdb', ...iotune });
  if (layout.configDriveBus) disks.push(configDriveDisk(paths.configDrive, layout.configDriveBus));
  const interfaces: InterfaceSpec[] = layout.network
    ? [
        {
          network: layout.network,
          model: 'virtio',
          ...(controls.bandwidth ? { bandwidth: controls.bandwidth } : {}),
        },
      ]
    : [];
  const cputune =
    controls.cputune || layout.vcpuPins.length > 0
      ? { ...controls.cputune, ...(layout.vcpuPins.length > 0 ? { vcpupin: layout.vcpuPins } : {}) }
      : undefined;
  return {
    name: `instance-${spec.instanceId}`,
    uuid: spec.instanceId,
    type: layout.virtType,
    memoryMiB: spec.memoryMb,
    vcpus: spec.vcpus,
    os: layout.kernel
      ? {
          boot: 'kernel',
          kernel: paths.kernel,
          ...(layout.kernel.ramdisk ? { initrd: paths.ramdisk } : {}),
          cmdline: layout.kernel.cmdline,
        }
      : { boot: 'hd' },
    disks,
    interfaces,
    serialLogPath: paths.console,
    ...(cputune ? { cputune } : {}),
    metadata: {
      instanceId: spec.instanceId,
      projectId: spec.projectId,
      flavorName: spec.flavorName,
      displayName: spec.displayName,
    },
  };
}
