/** An in-memory ImageLookup for tests and for running without an image service. */
import type { Image } from '@strato/contracts';
import type { ImageLookup } from '../domain/ports';

export class FakeImageLookup implements ImageLookup {
  private readonly images = new Map<string, Image & { status: string; owner: string | null }>();

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
      ...image,
    });
    return this;
  }

  async get(imageId: string, auth: { projectId: string }): Promise<(Image & { status: string }) | null> {
    const found = this.images.get(imageId);
    if (!found || (found.owner !== null && found.owner !== auth.projectId)) return null;
    const { owner: _owner, ...image } = found;
    return image;
  }
}
