/**
 * A real guest's files (see guest-layout.ts for the layout): the root disk as a qcow2 overlay
 * on the cached image, grown to the flavor's root disk; an empty ephemeral disk; copies of the
 * kernel and ramdisk for direct kernel boot (Nova's AKI/ARI convention: the image's kernel_id
 * and ramdisk_id properties); the config drive. Cached images are leased only while the files
 * are made; the overlay's backing file keeps its entry in use afterwards.
 *
 * The caller removes the instance directory when anything fails.
 */
import { constants } from 'node:fs';
import { copyFile, stat } from 'node:fs/promises';
import { AppError } from '@strato/errors';
import type { Image } from '@strato/contracts';
import type { ImageCache, ImageLease } from '../images/image-cache';
import type { ImageSource } from '../images/image-client';
import { assertSelfContained, type DiskFormat, type QemuImg } from '../images/qemu-img';
import { configDriveFiles, writeConfigDrive, type ConfigDriveInput } from './config-drive';
import { DEFAULT_KERNEL_CMDLINE, type GuestPaths } from './guest-layout';
import type { GuestSpec, SnapshotFile } from './hypervisor-driver';

const GiB = 1024 ** 3;

/** The root image must be something libvirt boots as a disk: qcow2 or raw, in a bare container. */
export function bootableFormat(image: Pick<Image, 'id' | 'disk_format' | 'container_format'>): DiskFormat {
  if (image.disk_format !== 'qcow2' && image.disk_format !== 'raw') {
    throw new AppError(
      'Invalid',
      `Image ${image.id} has disk_format ${image.disk_format ?? 'none'}; this host boots qcow2 and raw images only.`,
    );
  }
  if (image.container_format !== null && image.container_format !== 'bare') {
    throw new AppError(
      'Invalid',
      `Image ${image.id} has container_format ${image.container_format}; this host boots bare images only.`,
    );
  }
  return image.disk_format;
}

export interface PreparedDisks {
  hasEphemeral: boolean;
  kernel: { ramdisk: boolean; cmdline: string } | null;
}

export class GuestDisks {
  constructor(
    private readonly deps: {
      images: ImageCache;
      imageSource: ImageSource;
      qemuImg: QemuImg;
    },
  ) {}

  /**
   * Makes every file of the guest in paths.dir (which must exist). 'Invalid' for an image the
   * host cannot boot or a flavor disk smaller than the image.
   */
  async prepare(
    spec: GuestSpec,
    paths: GuestPaths,
    configDrive: ConfigDriveInput | null,
  ): Promise<PreparedDisks> {
    const format = bootableFormat(spec.image);
    const kernelId = spec.image.properties.kernel_id || null;
    const ramdiskId = spec.image.properties.ramdisk_id || null;
    if (ramdiskId && !kernelId) {
      throw new AppError('Invalid', `Image ${spec.image.id} names a ramdisk_id but no kernel_id.`);
    }
    const leases: ImageLease[] = [];
    const lease = async (image: Image) => {
      const held = await this.deps.images.acquire(image);
      leases.push(held);
      return held;
    };
    try {
      const fetched = await Promise.allSettled([
        lease(spec.image),
        kernelId ? this.bootFile(kernelId, 'aki').then(lease) : null,
        ramdiskId ? this.bootFile(ramdiskId, 'ari').then(lease) : null,
      ]);
      for (const f of fetched) if (f.status === 'rejected') throw f.reason;
      const [root, kernel, ramdisk] = fetched.map((f) => (f.status === 'fulfilled' ? f.value : null));

      const info = await this.deps.qemuImg.info(root!.path, format);
      // Checked on every use, not only when the cache downloaded the file: the same bytes may
      // have been cached for an image that called them raw.
      assertSelfContained(spec.image.id, format, info);
      const rootBytes = spec.rootDiskGb * GiB;
      if (spec.rootDiskGb > 0 && info.virtualSize > rootBytes) {
        throw new AppError('Invalid', "Flavor's disk is too small for requested image.");
      }
      await this.deps.qemuImg.createOverlay(
        paths.disk,
        { path: root!.path, format },
        spec.rootDiskGb > 0 ? rootBytes : undefined,
      );
      if (spec.ephemeralGb > 0) await this.deps.qemuImg.createEmpty(paths.ephemeral, spec.ephemeralGb * GiB);
      // Private copies, as Nova makes them: the guest never holds a shared cache file open.
      if (kernel) await copyFile(kernel.path, paths.kernel, constants.COPYFILE_FICLONE);
      if (ramdisk) await copyFile(ramdisk.path, paths.ramdisk, constants.COPYFILE_FICLONE);
      if (configDrive) {
        await writeConfigDrive(
          configDriveFiles(configDrive),
          paths.configDrive,
          `${paths.dir}/.config-drive`,
        );
      }
      return {
        hasEphemeral: spec.ephemeralGb > 0,
        kernel: kernel
          ? {
              ramdisk: ramdisk !== null,
              cmdline: spec.image.properties.os_command_line || DEFAULT_KERNEL_CMDLINE,
            }
          : null,
      };
    } finally {
      for (const held of leases) held.release();
    }
  }

  /**
   * Writes the root disk, its backing chain merged, as a standalone qcow2 file. `inUse`: a
   * (paused) QEMU holds the disk open, so it is read with force-share.
   */
  async snapshot(paths: GuestPaths, destFile: string, inUse: boolean): Promise<SnapshotFile> {
    await this.deps.qemuImg.convert(
      { path: paths.disk, format: 'qcow2' },
      { path: destFile, format: 'qcow2' },
      { forceShare: inUse },
    );
    return { format: 'qcow2', size: (await stat(destFile)).size };
  }

  /** The record of a kernel (aki) or ramdisk (ari) image named by the root image. */
  private async bootFile(imageId: string, want: 'aki' | 'ari'): Promise<Image> {
    const image = await this.deps.imageSource.show(imageId);
    if (image.disk_format !== want) {
      throw new AppError(
        'Invalid',
        `Image ${imageId} is named as a ${want === 'aki' ? 'kernel' : 'ramdisk'} but has disk_format ${image.disk_format ?? 'none'} (expected ${want}).`,
      );
    }
    return image;
  }
}
