/**
 * Image data in object storage, through the Swift API: one object per image at
 * {OBJECT_STORE_URL}/AUTH_{serviceProject}/{container}/{imageId}, written and read as
 * streams (Content-Length when the size is known, chunked transfer otherwise). The image
 * service authenticates as itself with a token it mints for its service project (admin
 * role), renewed before it expires.
 */
import http, { type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError, notFound, unavailable } from '@strato/errors';
import type { Logger } from '@strato/log';
import { DigestStream, type ByteRange, type ImageDataStore, type ImageDigest } from '../domain/image-data';

export interface SwiftDataStoreOptions {
  /** The Swift endpoint without account, e.g. http://127.0.0.1:8080/v1. */
  url: string;
  projectId: string;
  container: string;
  token: () => string;
  log: Logger;
  /** Idle socket timeout for one request. */
  timeoutMs?: number;
}

const OK_DELETE = new Set([200, 202, 204, 404]);

export class SwiftImageDataStore implements ImageDataStore {
  private readonly agent: http.Agent;
  private readonly base: URL;
  private containerReady: Promise<void> | null = null;

  constructor(private readonly opts: SwiftDataStoreOptions) {
    this.base = new URL(opts.url.replace(/\/+$/, ''));
    this.agent =
      this.base.protocol === 'https:'
        ? new https.Agent({ keepAlive: true, maxSockets: 64 })
        : new http.Agent({ keepAlive: true, maxSockets: 64 });
  }

  async put(imageId: string, data: Readable, expectedSize?: number): Promise<ImageDigest> {
    await this.ensureContainer();
    const digest = new DigestStream({ expectedSize });
    const headers: OutgoingHttpHeaders = { 'content-type': 'application/octet-stream' };
    if (expectedSize !== undefined) headers['content-length'] = expectedSize;
    else headers['transfer-encoding'] = 'chunked';
    const req = this.start('PUT', this.objectPath(imageId), headers);
    try {
      const [, res] = await Promise.all([pipeline(data, digest, req.request), req.response]);
      const body = await readSmall(res);
      if (res.statusCode !== 201 && res.statusCode !== 200) {
        throw unavailable(`Object storage refused the image data (${res.statusCode}): ${body.slice(0, 200)}`);
      }
      const result = digest.digest();
      const etag = String(res.headers.etag ?? '').replace(/"/g, '');
      if (etag && etag !== result.md5) {
        throw new AppError('Internal', `Object storage stored ${etag} where ${result.md5} was sent.`);
      }
      return result;
    } catch (err) {
      req.request.destroy();
      await this.delete(imageId).catch((e: unknown) =>
        this.opts.log.warn({ imageId, err: e }, 'could not remove partial image data'),
      );
      throw err;
    }
  }

  async get(imageId: string, range?: ByteRange): Promise<Readable> {
    const headers: OutgoingHttpHeaders = {};
    if (range) headers.range = `bytes=${range.start}-${range.end}`;
    const req = this.start('GET', this.objectPath(imageId), headers);
    req.request.end();
    const res = await req.response;
    const expected = range ? 206 : 200;
    if (res.statusCode === expected) return res;
    const body = await readSmall(res);
    if (res.statusCode === 404) throw notFound(`No data for image ${imageId}`);
    throw unavailable(`Object storage could not serve the image data (${res.statusCode}): ${body.slice(0, 200)}`);
  }

  async delete(imageId: string): Promise<void> {
    const req = this.start('DELETE', this.objectPath(imageId), {});
    req.request.end();
    const res = await req.response;
    const body = await readSmall(res);
    if (!OK_DELETE.has(res.statusCode ?? 0)) {
      throw unavailable(`Object storage could not delete the image data (${res.statusCode}): ${body.slice(0, 200)}`);
    }
  }

  async ping(): Promise<void> {
    const req = this.start('HEAD', this.containerPath(), {});
    req.request.end();
    const res = await req.response;
    res.resume();
    if ((res.statusCode ?? 500) >= 500 || res.statusCode === 401 || res.statusCode === 403) {
      throw new Error(`object storage answered ${res.statusCode}`);
    }
  }

  close(): void {
    this.agent.destroy();
  }

  /** Creates the container once (PUT is idempotent); retried after a failure. */
  private ensureContainer(): Promise<void> {
    this.containerReady ??= (async () => {
      const req = this.start('PUT', this.containerPath(), { 'content-length': 0 });
      req.request.end();
      const res = await req.response;
      const body = await readSmall(res);
      if (![201, 202, 204].includes(res.statusCode ?? 0)) {
        throw unavailable(`Object storage refused the image container (${res.statusCode}): ${body.slice(0, 200)}`);
      }
    })().catch((err: unknown) => {
      this.containerReady = null;
      throw err;
    });
    return this.containerReady;
  }

  private containerPath(): string {
    return `${this.base.pathname}/AUTH_${encodeURIComponent(this.opts.projectId)}/${encodeURIComponent(this.opts.container)}`;
  }

  private objectPath(imageId: string): string {
    return `${this.containerPath()}/${encodeURIComponent(imageId)}`;
  }

  private start(
    method: string,
    path: string,
    headers: OutgoingHttpHeaders,
  ): { request: http.ClientRequest; response: Promise<IncomingMessage> } {
    const client = this.base.protocol === 'https:' ? https : http;
    const request = client.request({
      protocol: this.base.protocol,
      hostname: this.base.hostname,
      port: this.base.port,
      method,
      path,
      agent: this.agent,
      headers: { ...headers, 'x-auth-token': this.opts.token() },
    });
    const timeout = this.opts.timeoutMs ?? 60_000;
    request.setTimeout(timeout, () => request.destroy(unavailable('Object storage did not answer in time.')));
    const response = new Promise<IncomingMessage>((resolve, reject) => {
      request.once('response', resolve);
      request.once('error', (err) =>
        reject(err instanceof AppError ? err : unavailable(`Object storage is unreachable: ${err.message}`)),
      );
    });
    // The response may arrive (or the request fail) before anyone awaits it.
    response.catch(() => undefined);
    return { request, response };
  }
}

/** Reads a short error body (first 4 KiB), discarding the rest. */
async function readSmall(res: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of res as AsyncIterable<Buffer>) {
    if (text.length < 4096) text += chunk.toString('utf8');
  }
  return text;
}
