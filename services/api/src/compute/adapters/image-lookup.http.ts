/**
 * ImageLookup over the Image v2 API, always with the caller's own token (so the image
 * service's visibility and ownership rules apply, and what is created is the caller's):
 * - GET {imageUrl}/v2/images/{id}: 404 (and 403) mean "no such image for this caller";
 *   anything else is Unavailable. Answers are kept a few seconds per (project, admin, image) so a
 *   burst of boots costs one call.
 * - POST {imageUrl}/v2/images (createImage's queued record) and DELETE (its rollback): the
 *   image service's refusals keep their meaning (400 Invalid, 403 Forbidden, 409 Conflict,
 *   413 QuotaExceeded); anything else is Unavailable.
 */
import { RefreshingMap } from '@strato/cache';
import { AppError, invalid, unavailable, type ErrorKind } from '@strato/errors';
import type { Logger } from '@strato/log';
import { GLANCE_CORE_FIELDS, imageFromGlance, type Image } from '@strato/contracts';
import type { ImageAuth, ImageLookup, NewImage } from '../domain/ports';

type Found = Image & { status: string };

const REFUSALS: Partial<Record<number, ErrorKind>> = {
  400: 'Invalid',
  403: 'Forbidden',
  409: 'Conflict',
  413: 'QuotaExceeded',
};

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', '#x27': "'", '#39': "'" };

/** The explanation in a Glance fault: webob's HTML page (after the <h1> title), or JSON. */
export function faultMessage(text: string): string | null {
  const html = /<\/h1>\s*([\s\S]*?)(?:<br \/>|<\/body>)/i.exec(text);
  if (html) {
    const message = html[1]!.replace(/&(amp|lt|gt|quot|#x27|#39);/g, (_m, e: string) => ENTITIES[e]!).trim();
    return message || null;
  }
  try {
    const doc = JSON.parse(text) as { message?: unknown; error?: { message?: unknown } };
    const message = doc.message ?? doc.error?.message;
    return typeof message === 'string' ? message : null;
  } catch {
    return null;
  }
}

/**
 * Answers are shared by the callers who see the same images: a project's members, or its
 * admins (whose tokens see every project's images; a member must never be served those).
 */
function cacheKey(imageId: string, auth: ImageAuth): string {
  return `${auth.projectId}${auth.admin ? '+admin' : ''}/${imageId}`;
}

export class HttpImageLookup implements ImageLookup {
  private readonly cache: RefreshingMap<Found | null>;

  constructor(
    private readonly deps: {
      imageUrl: string;
      log: Logger;
      ttlMs?: number;
      maxStaleMs?: number;
      timeoutMs?: number;
      now?: () => number;
    },
  ) {
    this.cache = new RefreshingMap({
      freshMs: deps.ttlMs ?? 5000,
      maxStaleMs: deps.maxStaleMs ?? 60_000,
      serveStale: (image) => image !== null,
      onRefreshError: (err, key) =>
        deps.log.warn(
          { err: err instanceof Error ? err.message : String(err), image: key.split('/')[1] },
          'image refresh failed',
        ),
      now: deps.now,
    });
  }

  /**
   * The image as the caller's project sees it. Answers are cached per project for ttlMs
   * (default 5 s). Past that, an image that was found keeps being served for up to maxStaleMs
   * (default 60 s) while one background request refreshes it, so a boot never waits on the
   * image service for an image it has just used (an image deleted meanwhile fails at the
   * agent, which cannot download it). Concurrent misses share one request.
   */
  get(imageId: string, auth: ImageAuth): Promise<Found | null> {
    return this.cache.get(cacheKey(imageId, auth), () => this.fetch(imageId, auth.token));
  }

  async create(image: NewImage, auth: ImageAuth): Promise<string> {
    for (const key of Object.keys(image.properties)) {
      if (GLANCE_CORE_FIELDS.has(key))
        throw invalid(`Image property ${key} is reserved by the image service.`);
    }
    const body = {
      ...image.properties,
      name: image.name,
      owner: image.owner,
      visibility: image.visibility,
      disk_format: image.disk_format,
      container_format: image.container_format,
      min_disk: image.min_disk_gb,
      min_ram: image.min_ram_mb,
    };
    const res = await this.call('POST', '/v2/images', auth.token, JSON.stringify(body));
    if (res.status !== 201) throw await this.refused(res, 'create');
    const created = (await res.json()) as { id?: unknown };
    if (typeof created.id !== 'string') throw unavailable('The image service is unavailable.');
    return created.id;
  }

  async delete(imageId: string, auth: ImageAuth): Promise<void> {
    for (const admin of [false, true]) this.cache.delete(cacheKey(imageId, { ...auth, admin }));
    const res = await this.call('DELETE', `/v2/images/${encodeURIComponent(imageId)}`, auth.token);
    await res.body?.cancel();
    if (res.status !== 204 && res.status !== 404) throw await this.refused(res, 'delete');
  }

  private async call(method: string, path: string, token: string, body?: string): Promise<Response> {
    try {
      return await fetch(`${this.deps.imageUrl.replace(/\/+$/, '')}${path}`, {
        method,
        headers: {
          'X-Auth-Token': token,
          Accept: 'application/json',
          ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body } : {}),
        signal: AbortSignal.timeout(this.deps.timeoutMs ?? 10_000),
      });
    } catch (err) {
      this.deps.log.warn(
        { err: err instanceof Error ? err.message : String(err) },
        'image service unreachable',
      );
      throw unavailable('The image service is unavailable.');
    }
  }

  private async refused(res: Response, what: string): Promise<AppError> {
    const message = faultMessage(await res.text().catch(() => ''));
    const kind = REFUSALS[res.status];
    if (kind && message) return new AppError(kind, message);
    this.deps.log.warn({ status: res.status, action: what }, 'image service refused an image change');
    return unavailable('The image service is unavailable.');
  }

  private async fetch(imageId: string, token: string): Promise<Found | null> {
    const res = await this.call('GET', `/v2/images/${encodeURIComponent(imageId)}`, token);
    if (res.status === 404 || res.status === 403) return null;
    if (!res.ok) {
      this.deps.log.warn({ status: res.status }, 'image service refused an image lookup');
      throw unavailable('The image service is unavailable.');
    }
    return imageFromGlance((await res.json()) as Record<string, unknown>);
  }
}
