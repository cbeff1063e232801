/**
 * Image data in a local directory. For unit tests only: a deployment keeps image data in
 * object storage (swift-data-store.ts), never on the image service's disk.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomUUID } from 'node:crypto';
import { notFound } from '@strato/errors';
import { DigestStream, type ByteRange, type ImageDataStore, type ImageDigest } from '../domain/image-data';

export class FsImageDataStore implements ImageDataStore {
  constructor(private readonly dir: string) {}

  async put(imageId: string, data: Readable, expectedSize?: number): Promise<ImageDigest> {
    await mkdir(this.dir, { recursive: true });
    const temp = join(this.dir, `.${randomUUID()}.part`);
    const digest = new DigestStream({ expectedSize });
    try {
      await pipeline(data, digest, createWriteStream(temp));
      await rename(temp, this.path(imageId));
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
    return digest.digest();
  }

  async get(imageId: string, range?: ByteRange): Promise<Readable> {
    const path = this.path(imageId);
    try {
      await stat(path);
    } catch {
      throw notFound(`No data for image ${imageId}`);
    }
    return createReadStream(path, range ? { start: range.start, end: range.end } : {});
  }

  async delete(imageId: string): Promise<void> {
    await rm(this.path(imageId), { force: true });
  }

  private path(imageId: string): string {
    if (!/^[0-9a-f-]{36}$/.test(imageId)) throw notFound(`No data for image ${imageId}`);
    return join(this.dir, imageId);
  }
}
