/** Request and response plumbing shared by the Swift and S3 handlers (plain node:http types). */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { storageError } from '../domain/errors';
import { parseRange } from '../domain/conditions';
import type { ObjectBody, ObjectStoreService, ObjectView } from '../domain/object-store.service';
import type { UserMeta } from '../domain/records';

/** What the object-storage handlers know about a request beyond node's own fields. */
export interface ObjectRequest extends IncomingMessage {
  /** Always set on a request a server received. */
  method: string;
  /** Which API renders this request's errors. */
  objectApi?: 'swift' | 's3';
  /** S3 resource path for error bodies. */
  s3Resource?: string;
  requestId?: string;
}

export type ObjectResponse = ServerResponse;

declare module 'express-serve-static-core' {
  interface Request {
    objectApi?: 'swift' | 's3';
    s3Resource?: string;
  }
}

/** A request header by its lowercase name; repeated headers are joined as node joins them. */
export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/** Sets the status code; returns the response for chaining. */
export function status(res: ServerResponse, code: number): ServerResponse {
  res.statusCode = code;
  return res;
}

export function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.statusCode = code;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', String(Buffer.byteLength(text)));
  res.end(text);
}

export const MAX_META_COUNT = 90;
export const MAX_META_TOTAL_BYTES = 4096;

/** The request's path (still percent-encoded) and its query. */
export function splitUrl(url: string): { path: string; query: URLSearchParams; rawQuery: string } {
  const q = url.indexOf('?');
  const rawQuery = q < 0 ? '' : url.slice(q + 1);
  return { path: q < 0 ? url : url.slice(0, q), query: new URLSearchParams(rawQuery), rawQuery };
}

/** Content-Length as a number; undefined for chunked bodies. Throws when malformed. */
export function declaredLength(req: IncomingMessage): number | undefined {
  const raw = req.headers['content-length'];
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw)) throw storageError('InvalidArgument', 'Invalid Content-Length');
  return Number(raw);
}

export function hasBody(req: IncomingMessage): boolean {
  return req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
}

/** User metadata from headers with the given prefix (lowercased names, as stored). */
export function userMeta(req: IncomingMessage, prefix: string): UserMeta {
  const meta: UserMeta = {};
  let count = 0;
  let total = 0;
  for (const [name, value] of Object.entries(req.headers)) {
    if (!name.startsWith(prefix) || typeof value !== 'string') continue;
    const key = name.slice(prefix.length);
    if (key === '') continue;
    if (key.length > 128)
      throw storageError('InvalidArgument', `Metadata name too long: ${key.slice(0, 32)}…`);
    if (value.length > 256) throw storageError('InvalidArgument', `Metadata value longer than 256: ${key}`);
    count++;
    total += key.length + value.length;
    meta[key] = value;
  }
  if (count > MAX_META_COUNT) throw storageError('InvalidArgument', 'Too many metadata items; max 90');
  if (total > MAX_META_TOTAL_BYTES)
    throw storageError('InvalidArgument', 'Total metadata too large; max 4096');
  return meta;
}

/** Metadata changes: set by `prefix`, removed by an empty value or `removePrefix`. */
export function metaPatch(
  req: IncomingMessage,
  prefix: string,
  removePrefix: string,
): Record<string, string | null> {
  const patch: Record<string, string | null> = { ...userMeta(req, prefix) };
  for (const [k, v] of Object.entries(patch)) if (v === '') patch[k] = null;
  for (const name of Object.keys(req.headers)) {
    if (name.startsWith(removePrefix) && name.length > removePrefix.length) {
      patch[name.slice(removePrefix.length)] = null;
    }
  }
  return patch;
}

/** Reads a small request body (manifests, XML documents) up to limit bytes. */
export async function readSmallBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw storageError('EntityTooLarge', 'The request body is too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Drains and discards a request body. */
export async function discardBody(req: IncomingMessage): Promise<void> {
  for await (const _ of req) {
    // discard
  }
}

/** Sends an object body; a failure mid-stream cuts the connection (the length promised is not met). */
export async function sendBody(res: ServerResponse, body: ObjectBody): Promise<void> {
  if (body.kind === 'buffer') {
    res.end(body.data);
    return;
  }
  if (body.sendTo) {
    try {
      await body.sendTo(res);
      res.end();
    } catch (err) {
      res.destroy();
      if (!isClientGone(err)) throw err;
    }
    return;
  }
  try {
    await pipeline(body.stream, res);
  } catch (err) {
    body.stream.destroy();
    res.destroy();
    if (!isClientGone(err)) throw err;
  }
}

function isClientGone(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET' || code === 'EPIPE';
}

export function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

/** Swift's X-Timestamp: seconds with five decimals. */
export function swiftTimestamp(ms: number): string {
  return (ms / 1000).toFixed(5);
}

/** Swift listings: 2024-05-01T12:34:56.123000 (UTC, no zone). */
export function listingDate(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '000');
}

// eslint-disable-next-line no-control-regex -- control characters are exactly what must be escaped
const XML_SPECIAL = /[<>&'"\u0000-\u0008\u000b\u000c\u000e-\u001f]/g;

export function xmlEscape(s: string): string {
  return s.replace(XML_SPECIAL, (c) => {
    switch (c) {
      case '<':
        return '&lt;';
      case '>':
        return '&gt;';
      case '&':
        return '&amp;';
      case "'":
        return '&apos;';
      case '"':
        return '&quot;';
      default:
        return `&#${c.charCodeAt(0)};`;
    }
  });
}

/**
 * The body of an object GET or HEAD, shared by Swift and S3: Accept-Ranges, a Range as 206
 * (or InvalidRange with a Content-Range of the whole size, in the API's own words), then the bytes.
 */
export async function sendObject(
  req: IncomingMessage,
  res: ServerResponse,
  store: Pick<ObjectStoreService, 'read'>,
  view: ObjectView,
  unsatisfiableMessage: string,
): Promise<void> {
  res.setHeader('Accept-Ranges', 'bytes');
  const range = parseRange(header(req, 'range'), view.size);
  if (range === 'unsatisfiable') {
    res.setHeader('Content-Range', `bytes */${view.size}`);
    throw storageError('InvalidRange', unsatisfiableMessage);
  }
  if (range) {
    status(res, 206);
    res.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${view.size}`);
    res.setHeader('Content-Length', String(range.end - range.start + 1));
  } else {
    status(res, 200);
    res.setHeader('Content-Length', String(view.size));
  }
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  await sendBody(res, await store.read(view, range));
}
