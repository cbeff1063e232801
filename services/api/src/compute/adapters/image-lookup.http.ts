/**
 * ImageLookup over the Image v2 API: GET {imageUrl}/v2/images/{id} with the caller's token.
 * 404 (and 403) mean "no such image for this caller"; anything else is Unavailable.
 * Answers are kept a few seconds per (project, image) so a burst of boots costs one call.
 */
import { unavailable } from '@strato/errors';
import type { Logger } from '@strato/log';
import type { Image } from '@strato/contracts';
import type { ImageLookup } from '../domain/ports';

const CORE = new Set([
  'id',
  'name',
  'status',
  'visibility',
  'protected',
  'checksum',
  'os_hash_algo',
  'os_hash_value',
  'owner',
  'size',
  'virtual_size',
  'min_ram',
  'min_disk',
  'created_at',
  'updated_at',
  'tags',
  'self',
  'file',
  'schema',
  'disk_format',
  'container_format',
  'os_hidden',
  'locations',
  'direct_url',
]);

type Found = Image & { status: string };

/** Maps a Glance image document to the contract's image. */
export function toContractImage(doc: Record<string, unknown>): Found {
  const str = (v: unknown) => (typeof v === 'string' ? v : null);
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? Math.max(0, Math.floor(v)) : 0);
  const properties: Record<string, string> = {};
  for (const [k, v] of Object.entries(doc)) {
    if (CORE.has(k) || v === null || v === undefined) continue;
    properties[k.slice(0, 255)] = (typeof v === 'string' ? v : JSON.stringify(v)).slice(0, 65535);
  }
  return {
    id: String(doc.id),
    name: str(doc.name),
    status: str(doc.status) ?? 'unknown',
    disk_format: str(doc.disk_format),
    container_format: str(doc.container_format),
    size: typeof doc.size === 'number' ? num(doc.size) : null,
    checksum: str(doc.os_hash_value) ?? str(doc.checksum),
    min_ram_mb: num(doc.min_ram),
    min_disk_gb: num(doc.min_disk),
    properties,
  };
}

export class HttpImageLookup implements ImageLookup {
  private readonly cache = new Map<string, { at: number; image: Found | null }>();

  constructor(
    private readonly deps: {
      imageUrl: string;
      log: Logger;
      ttlMs?: number;
      timeoutMs?: number;
      now?: () => number;
    },
  ) {}

  async get(imageId: string, auth: { token: string; projectId: string }): Promise<Found | null> {
    const now = (this.deps.now ?? Date.now)();
    const key = `${auth.projectId}/${imageId}`;
    const hit = this.cache.get(key);
    if (hit && now - hit.at < (this.deps.ttlMs ?? 5000)) return hit.image;
    const image = await this.fetch(imageId, auth.token);
    if (this.cache.size > 1000) this.cache.clear();
    this.cache.set(key, { at: now, image });
    return image;
  }

  private async fetch(imageId: string, token: string): Promise<Found | null> {
    const url = `${this.deps.imageUrl.replace(/\/+$/, '')}/v2/images/${encodeURIComponent(imageId)}`;
    let res: Response;
    try {
      res = await fetch(url, {
        headers: { 'X-Auth-Token': token, Accept: 'application/json' },
        signal: AbortSignal.timeout(this.deps.timeoutMs ?? 10_000),
      });
    } catch (err) {
      this.deps.log.warn(
        { err: err instanceof Error ? err.message : String(err) },
        'image service unreachable',
      );
      throw unavailable('The image service is unavailable.');
    }
    if (res.status === 404 || res.status === 403) return null;
    if (!res.ok) {
      this.deps.log.warn({ status: res.status }, 'image service refused an image lookup');
      throw unavailable('The image service is unavailable.');
    }
    return toContractImage((await res.json()) as Record<string, unknown>);
  }
}
