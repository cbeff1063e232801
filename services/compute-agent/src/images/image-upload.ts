/**
 * Snapshot uploads to the Image v2 API (the ImageUploader port of the compute manager), with
 * the agent's service token: admin in the service project, so it may write an image the api
 * created in the instance's project. The image's status (GET /v2/images/{id}), its disk and
 * container format (PATCH), its data (PUT /v2/images/{id}/file, streamed from the file with
 * its length) and, for a failed snapshot, its deletion (DELETE). Errors are AppErrors:
 * 'NotFound', 'Conflict' (the image service refused the change), 'Unavailable' (unreachable or
 * failing; retryable), 'Internal' (it refused the token).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http, { type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import { pipeline } from 'node:stream/promises';
import type { ServiceToken } from '@strato/auth';
import { AppError } from '@strato/errors';
import type { ImageUploader } from '../domain/compute.manager';
import type { SnapshotFile } from '../driver/hypervisor-driver';

export interface ImageUploadOptions {
  /** The image service's base URL, e.g. http://127.0.0.1:9292. */
  url: string;
  /** The X-Auth-Token to send (asked for per request, so it can be renewed). */
  token: () => string;
  /** Idle socket timeout for one request (ms). */
  timeoutMs?: number;
}

const PATCH_TYPE = 'application/openstack-images-v2.1-json-patch';

interface Answer {
  status: number;
  body: string;
}

async function readSmall(res: IncomingMessage, limit = 64 * 1024): Promise<string> {
  let text = '';
  for await (const chunk of res as AsyncIterable<Buffer>) {
    if (text.length < limit) text += chunk.toString('utf8');
  }
  return text.slice(0, limit);
}

/** The explanation in a Glance fault (webob's HTML page, or JSON); else the body's start. */
function reason(body: string): string {
  const html = /<\/h1>\s*([\s\S]*?)(?:<br \/>|<\/body>)/i.exec(body);
  if (html)
    return html[1]!
      .replace(/<[^>]*>/g, '')
      .trim()
      .slice(0, 300);
  try {
    const doc = JSON.parse(body) as { message?: unknown };
    if (typeof doc.message === 'string') return doc.message.slice(0, 300);
  } catch {
    // not JSON
  }
  return body.replace(/\s+/g, ' ').trim().slice(0, 300);
}

export class HttpImageUploader implements ImageUploader {
  private readonly base: URL;
  private readonly agent: http.Agent;

  constructor(private readonly options: ImageUploadOptions) {
    this.base = new URL(options.url.replace(/\/+$/, ''));
    this.agent =
      this.base.protocol === 'https:'
        ? new https.Agent({ keepAlive: true, maxSockets: 8 })
        : new http.Agent({ keepAlive: true, maxSockets: 8 });
  }

  async status(imageId: string): Promise<string | null> {
    const res = await this.send('GET', imageId, '', { accept: 'application/json' });
    if (res.status === 404) return null;
    if (res.status !== 200) throw this.refused('read', imageId, res);
    try {
      const doc = JSON.parse(res.body) as { status?: unknown };
      if (typeof doc.status === 'string') return doc.status;
    } catch {
      // reported below
    }
    throw new AppError('Unavailable', `The image service sent an unreadable record for image ${imageId}.`);
  }

  async upload(imageId: string, file: string, format: SnapshotFile['format']): Promise<void> {
    const patch = JSON.stringify([
      { op: 'replace', path: '/disk_format', value: format },
      { op: 'replace', path: '/container_format', value: 'bare' },
    ]);
    const patched = await this.send('PATCH', imageId, '', { 'content-type': PATCH_TYPE }, patch);
    if (patched.status !== 200) throw this.refused('describe', imageId, patched);
    const { size } = await stat(file);
    const res = await this.send(
      'PUT',
      imageId,
      '/file',
      { 'content-type': 'application/octet-stream', 'content-length': size },
      { file },
    );
    if (res.status !== 204 && res.status !== 200 && res.status !== 201) {
      throw this.refused('upload the data of', imageId, res);
    }
  }

  async discard(imageId: string): Promise<void> {
    const res = await this.send('DELETE', imageId, '', {});
    if (res.status !== 204 && res.status !== 200 && res.status !== 404) {
      throw this.refused('delete', imageId, res);
    }
  }

  /** Closes idle keep-alive sockets. */
  close(): void {
    this.agent.destroy();
  }

  private refused(what: string, imageId: string, res: Answer): AppError {
    const detail = `(${res.status}): ${reason(res.body)}`;
    if (res.status === 404) return new AppError('NotFound', `Image ${imageId} could not be found.`);
    if (res.status === 401 || res.status === 403) {
      return new AppError(
        'Internal',
        `The image service refused the compute agent's token ${detail}; check TOKEN_SIGNING_KEYS.`,
      );
    }
    if (res.status >= 400 && res.status < 500) {
      return new AppError('Conflict', `The image service would not ${what} image ${imageId} ${detail}`);
    }
    return new AppError('Unavailable', `The image service failed to ${what} image ${imageId} ${detail}`);
  }

  /** One request; a `{file}` body is streamed from that file. */
  private async send(
    method: string,
    imageId: string,
    suffix: string,
    headers: OutgoingHttpHeaders,
    body?: string | { file: string },
  ): Promise<Answer> {
    const path = `${this.base.pathname.replace(/\/+$/, '')}/v2/images/${encodeURIComponent(imageId)}${suffix}`;
    const url = new URL(path, this.base);
    const lib = url.protocol === 'https:' ? https : http;
    const timeout = this.options.timeoutMs ?? 60_000;
    const req = lib.request(url, {
      method,
      agent: this.agent,
      headers: {
        ...headers,
        ...(typeof body === 'string' ? { 'content-length': Buffer.byteLength(body) } : {}),
        'x-auth-token': this.options.token(),
      },
      timeout,
    });
    const response = new Promise<IncomingMessage>((resolve, reject) => {
      req.once('response', resolve);
      req.once('error', (err) =>
        reject(
          err instanceof AppError
            ? err
            : new AppError('Unavailable', `The image service is unavailable (${err.message}).`),
        ),
      );
    });
    response.catch(() => undefined); // it may fail before anyone awaits it
    req.on('timeout', () =>
      req.destroy(new AppError('Unavailable', 'The image service did not answer in time.')),
    );
    if (typeof body === 'object') {
      await Promise.all([pipeline(createReadStream(body.file), req), response]).catch((err: unknown) => {
        req.destroy();
        throw err instanceof AppError
          ? err
          : new AppError(
              'Unavailable',
              `Sending image ${imageId} failed (${err instanceof Error ? err.message : String(err)}).`,
            );
      });
    } else {
      req.end(body);
    }
    const res = await response;
    res.setTimeout(timeout, () => res.destroy(new Error('the image service stopped answering')));
    return { status: res.statusCode ?? 0, body: await readSmall(res) };
  }
}

/** Refuses every snapshot, saying why (an agent without the signing keys has no token). */
export class UnavailableImageUploader implements ImageUploader {
  constructor(private readonly why: string) {}

  async status(): Promise<string | null> {
    throw new AppError('Unavailable', this.why);
  }

  async upload(): Promise<void> {
    throw new AppError('Unavailable', this.why);
  }

  async discard(): Promise<void> {
    throw new AppError('Unavailable', this.why);
  }

  close(): void {}
}

/** The agent's uploader: with its own token (minted with the shared keys), or one that says why not. */
export function snapshotUploader(settings: {
  imageUrl: string;
  token: ServiceToken | null;
}): ImageUploader & { close(): void } {
  const { token } = settings;
  if (!token) {
    return new UnavailableImageUploader(
      'Snapshots need TOKEN_SIGNING_KEYS on the compute agent (to upload to the image service).',
    );
  }
  return new HttpImageUploader({ url: settings.imageUrl, token: () => token.get() });
}
