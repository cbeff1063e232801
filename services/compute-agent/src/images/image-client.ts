/**
 * The agent's client of the Image v2 API: an image's record (GET /v2/images/{id}) and its data
 * as a stream (GET /v2/images/{id}/file), with the agent's own service token. Errors are
 * AppErrors: 'NotFound' (no such image), 'Invalid' (the image has no data), 'Unavailable' (the
 * image service cannot be reached or failed; retryable), 'Internal' (it refused the token).
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { AppError } from '@strato/errors';
import { imageFromGlance, type Image } from '@strato/contracts';

/** Where image data comes from: the image service, or a test double. */
export interface ImageSource {
  /** The image's record, as the compute contract carries images. */
  show(imageId: string): Promise<Image>;
  /** The image's data; `size` when the server said. The caller must consume or destroy it. */
  download(imageId: string): Promise<{ data: Readable; size: number | null }>;
}

export interface ImageClientOptions {
  /** The image service's base URL, e.g. http://127.0.0.1:9292. */
  url: string;
  /** The X-Auth-Token to send (minted per call, so it can be renewed). */
  token: () => string;
  /** Idle socket timeout for one request (ms). */
  timeoutMs?: number;
}

/** A Glance image document as the compute contract's image (checksum: os_hash_value, else MD5). */
export function imageFromDocument(doc: Record<string, unknown>): Image {
  const { status: _status, ...image } = imageFromGlance(doc);
  return image;
}

async function readBody(res: IncomingMessage, limit = 1024 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) {
      res.destroy();
      throw new AppError('Unavailable', 'The image service sent an oversized answer.');
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export class ImageClient implements ImageSource {
  private readonly base: URL;
  private readonly agent: http.Agent;

  constructor(private readonly options: ImageClientOptions) {
    this.base = new URL(options.url.replace(/\/+$/, ''));
    this.agent =
      this.base.protocol === 'https:'
        ? new https.Agent({ keepAlive: true, maxSockets: 16 })
        : new http.Agent({ keepAlive: true, maxSockets: 16 });
  }

  async show(imageId: string): Promise<Image> {
    const res = await this.get(`/v2/images/${encodeURIComponent(imageId)}`, 'application/json');
    const body = await readBody(res);
    if (res.statusCode !== 200) throw this.refused(imageId, res.statusCode ?? 0, body);
    let doc: unknown;
    try {
      doc = JSON.parse(body);
    } catch {
      throw new AppError('Unavailable', `The image service sent an unreadable record for image ${imageId}.`);
    }
    if (typeof doc !== 'object' || doc === null) {
      throw new AppError('Unavailable', `The image service sent an unreadable record for image ${imageId}.`);
    }
    return imageFromDocument(doc as Record<string, unknown>);
  }

  async download(imageId: string): Promise<{ data: Readable; size: number | null }> {
    const res = await this.get(`/v2/images/${encodeURIComponent(imageId)}/file`, 'application/octet-stream');
    if (res.statusCode === 200) {
      const length = res.headers['content-length'];
      return { data: res, size: length !== undefined && /^\d+$/.test(length) ? Number(length) : null };
    }
    const body = await readBody(res).catch(() => '');
    if (res.statusCode === 204) throw new AppError('Invalid', `Image ${imageId} has no data.`);
    throw this.refused(imageId, res.statusCode ?? 0, body);
  }

  /** Closes idle keep-alive sockets. */
  close(): void {
    this.agent.destroy();
  }

  private refused(imageId: string, status: number, body: string): AppError {
    if (status === 404) return new AppError('NotFound', `Image ${imageId} could not be found.`);
    if (status === 401 || status === 403) {
      return new AppError(
        'Internal',
        `The image service refused the compute agent's token (${status}); check TOKEN_SIGNING_KEYS.`,
      );
    }
    return new AppError(
      'Unavailable',
      `The image service failed to serve image ${imageId} (${status}): ${body.slice(0, 200)}`,
    );
  }

  private get(path: string, accept: string): Promise<IncomingMessage> {
    const url = new URL(`${this.base.pathname.replace(/\/+$/, '')}${path}`, this.base);
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = lib.request(url, {
        method: 'GET',
        agent: this.agent,
        headers: { 'x-auth-token': this.options.token(), accept },
        timeout: this.options.timeoutMs ?? 60_000,
      });
      req.on('response', (res) => {
        res.setTimeout(this.options.timeoutMs ?? 60_000, () =>
          res.destroy(new Error('the image service stopped sending data')),
        );
        resolve(res);
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (err) =>
        reject(new AppError('Unavailable', `The image service is unavailable (${err.message}).`)),
      );
      req.end();
    });
  }
}
