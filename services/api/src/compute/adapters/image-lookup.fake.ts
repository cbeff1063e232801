/** An in-memory ImageLookup for tests and for running without an image service. */
import { randomUUID } from 'node:crypto';
import type { Image } from '@strato/contracts';
import type { ImageAuth, ImageLookup, NewImage } from '../domain/ports';

type Stored = Image & { status: string; owner: string | null; visibility: string };

export class FakeImageLookup implements ImageLookup {
  private readonly images = new Map<string, Stored>();

  /** Adds an image; owner null means public. */
  add(image: Partial<Image> & { id: string; status?: string; owner?: string | null }): this {
    this.images.set(image.id, {
      name: null,
      disk_format: 'qcow2',
      container_format: 'bare',
      size: 1024,
      checksum: null,
      min_ram_mb: 0,
      min_disk_gb: 0,
      properties: {},
      status: 'active',
      owner: null,
      visibility: 'public',
      ...image,
    });
    return this;
  }

  /** Test hook: an image's status changes (e.g. its upload finished). */
  setStatus(imageId: string, status: string): void {
    const image = this.images.get(imageId);
    if (image) image.status = status;
  }

  /** How many images there are (for assertions). */
  get count(): number {
    return this.images.size;
  }

  /** Every stored image with its owner and visibility (for assertions). */
  find(imageId: string): Stored | undefined {
    return this.images.get(imageId);
  }

  async get(imageId: string, auth: { projectId: string }): Promise<(Image & { status: string }) | null> {
    const found = this.images.get(imageId);
    if (!found || (found.owner !== null && found.owner !== auth.projectId)) return null;
    const { owner: _owner, visibility: _visibility, ...image } = found;
    return image;
  }

  async create(image: NewImage, _auth: ImageAuth): Promise<string> {
    const id = randomUUID();
    this.images.set(id, {
      id,
      name: image.name,
      disk_format: image.disk_format,
      container_format: image.container_format,
      size: null,
      checksum: null,
      min_ram_mb: image.min_ram_mb,
      min_disk_gb: image.min_disk_gb,
      properties: { ...image.properties },
      status: 'queued',
      owner: image.owner,
      visibility: image.visibility,
    });
    return id;
  }

  async delete(imageId: string, _auth: ImageAuth): Promise<void> {
    this.images.delete(imageId);
  }
}
