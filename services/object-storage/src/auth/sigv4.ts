/**
 * AWS Signature Version 4 as S3 uses it: in the Authorization header or in a presigned URL's
 * query. Parsing, canonicalisation and verification are pure; the caller looks up the secret.
 * https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-authenticating-requests.html
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { storageError } from '../domain/errors';

export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
export const STREAMING_SIGNED = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';
export const STREAMING_SIGNED_TRAILER = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER';
export const STREAMING_UNSIGNED_TRAILER = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
const MAX_SKEW_MS = 15 * 60 * 1000;

export interface SignedRequest {
  method: string;
  /** The path as received (percent-encoded). */
  rawPath: string;
  /** The query as received, without '?'. */
  rawQuery: string;
  headers: IncomingHttpHeaders;
}

export interface SigV4Auth {
  accessKey: string;
  /** yyyymmdd */
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
  /** yyyymmddThhmmssZ */
  amzDate: string;
  /** Hex SHA-256, UNSIGNED-PAYLOAD or a STREAMING-* marker. */
  payloadHash: string;
  presigned: boolean;
  expiresSeconds?: number;
}

export function scopeOf(a: Pick<SigV4Auth, 'date' | 'region' | 'service'>): string {
  return `${a.date}/${a.region}/${a.service}/aws4_request`;
}

function malformed(message: string): Error {
  return storageError('AuthorizationHeaderMalformed', message);
}

function parseCredential(value: string): Pick<SigV4Auth, 'accessKey' | 'date' | 'region' | 'service'> {
  const parts = value.split('/');
  if (parts.length !== 5 || parts[4] !== 'aws4_request' || !/^\d{8}$/.test(parts[1]!)) {
    throw malformed('The authorization header is malformed; the Credential is mal-formed.');
  }
  return { accessKey: parts[0]!, date: parts[1]!, region: parts[2]!, service: parts[3]! };
}

/** True when the request carries SigV4 (or v2) S3 authentication. */
export function looksLikeS3(headers: IncomingHttpHeaders, query: URLSearchParams): boolean {
  const auth = headers.authorization;
  if (auth && (auth.startsWith('AWS4-HMAC-SHA256') || auth.startsWith('AWS '))) return true;
  return query.has('X-Amz-Algorithm') || query.has('X-Amz-Credential') || query.has('AWSAccessKeyId');
}

/** Reads the signature parameters from the Authorization header or the presigned query. */
export function parseSigV4(req: SignedRequest, query: URLSearchParams): SigV4Auth {
  const header = req.headers.authorization;
  if (header !== undefined) {
    if (!header.startsWith('AWS4-HMAC-SHA256 ')) {
      throw storageError('InvalidRequest', 'Please use AWS4-HMAC-SHA256 (Signature Version 4).');
    }
    const fields = new Map<string, string>();
    for (const part of header.slice('AWS4-HMAC-SHA256 '.length).split(',')) {
      const eq = part.indexOf('=');
      if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
    }
    const credential = fields.get('Credential');
    const signedHeaders = fields.get('SignedHeaders');
    const signature = fields.get('Signature');
    if (!credential || !signedHeaders || !signature) {
      throw malformed('The authorization header is malformed.');
    }
    const amzDate = headerValue(req.headers['x-amz-date']);
    if (!amzDate || !/^\d{8}T\d{6}Z$/.test(amzDate)) {
      throw storageError('AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
    }
    const payloadHash = headerValue(req.headers['x-amz-content-sha256']);
    if (!payloadHash) {
      throw storageError('InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
    }
    return {
      ...parseCredential(credential),
      signedHeaders: signedHeaders.split(';'),
      signature,
      amzDate,
      payloadHash,
      presigned: false,
    };
  }
  if (query.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') {
    throw storageError('InvalidRequest', 'Please use AWS4-HMAC-SHA256 (Signature Version 4).');
  }
  const credential = query.get('X-Amz-Credential');
  const signedHeaders = query.get('X-Amz-SignedHeaders');
  const signature = query.get('X-Amz-Signature');
  const amzDate = query.get('X-Amz-Date');
  const expires = Number(query.get('X-Amz-Expires'));
  if (!credential || !signedHeaders || !signature || !amzDate || !/^\d{8}T\d{6}Z$/.test(amzDate)) {
    throw storageError(
      'AuthorizationQueryParametersError',
      'Query-string authentication requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders and X-Amz-Expires parameters.',
    );
  }
  if (!Number.isInteger(expires) || expires < 1 || expires > 604800) {
    throw storageError(
      'AuthorizationQueryParametersError',
      'X-Amz-Expires must be between 1 and 604800 seconds.',
    );
  }
  return {
    ...parseCredential(credential),
    signedHeaders: signedHeaders.split(';'),
    signature,
    amzDate,
    payloadHash: headerValue(req.headers['x-amz-content-sha256']) ?? UNSIGNED_PAYLOAD,
    presigned: true,
    expiresSeconds: expires,
  };
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(',') : v;
}

export function amzDateToMs(amzDate: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate)!;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
}

/** Refuses stale requests: a skewed clock, or a presigned URL past its expiry. */
export function checkTime(auth: SigV4Auth, nowMs: number): void {
  const signedAt = amzDateToMs(auth.amzDate);
  if (!auth.amzDate.startsWith(auth.date)) {
    throw storageError('SignatureDoesNotMatch', 'The credential date does not match the request date.');
  }
  if (auth.presigned) {
    if (nowMs > signedAt + auth.expiresSeconds! * 1000)
      throw storageError('AccessDenied', 'Request has expired');
    if (signedAt - nowMs > MAX_SKEW_MS) throw storageError('AccessDenied', 'Request is not valid yet');
    return;
  }
  if (Math.abs(nowMs - signedAt) > MAX_SKEW_MS) {
    throw storageError(
      'RequestTimeTooSkewed',
      'The difference between the request time and the current time is too large.',
    );
  }
}

/** RFC 3986 encoding as SigV4 wants it: everything but A-Z a-z 0-9 - _ . ~ */
export function awsEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export function canonicalUri(rawPath: string): string {
  return rawPath
    .split('/')
    .map((seg) => awsEncode(safeDecode(seg)))
    .join('/');
}

export function canonicalQuery(rawQuery: string, presigned: boolean): string {
  if (!rawQuery) return '';
  const pairs: [string, string][] = [];
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = awsEncode(safeDecode(eq < 0 ? part : part.slice(0, eq)));
    const value = awsEncode(safeDecode(eq < 0 ? '' : part.slice(eq + 1)));
    if (presigned && key === 'X-Amz-Signature') continue;
    pairs.push([key, value]);
  }
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

export function canonicalRequest(req: SignedRequest, auth: SigV4Auth): string {
  const headers = auth.signedHeaders
    .map((name) => {
      const value = headerValue(req.headers[name]) ?? '';
      return `${name}:${value.trim().replace(/\s+/g, ' ')}\n`;
    })
    .join('');
  return [
    req.method,
    canonicalUri(req.rawPath),
    canonicalQuery(req.rawQuery, auth.presigned),
    headers,
    auth.signedHeaders.join(';'),
    auth.payloadHash,
  ].join('\n');
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function stringToSign(auth: SigV4Auth, canonical: string): string {
  return ['AWS4-HMAC-SHA256', auth.amzDate, scopeOf(auth), sha256Hex(canonical)].join('\n');
}

const keyCache = new Map<string, Buffer>();

export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  const id = `${date}\n${region}\n${service}\n${secret}`;
  let key = keyCache.get(id);
  if (!key) {
    const kDate = createHmac('sha256', `AWS4${secret}`).update(date).digest();
    const kRegion = createHmac('sha256', kDate).update(region).digest();
    const kService = createHmac('sha256', kRegion).update(service).digest();
    key = createHmac('sha256', kService).update('aws4_request').digest();
    if (keyCache.size > 1000) keyCache.clear();
    keyCache.set(id, key);
  }
  return key;
}

export function hmacHex(key: Buffer, data: string): string {
  return createHmac('sha256', key).update(data).digest('hex');
}

export function signaturesEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Verifies a request's signature with the secret of its access key; throws SignatureDoesNotMatch. */
export function verifySigV4(req: SignedRequest, auth: SigV4Auth, secret: string): Buffer {
  if (!auth.signedHeaders.includes('host')) {
    throw storageError('AccessDenied', 'The host header must be signed.');
  }
  const key = signingKey(secret, auth.date, auth.region, auth.service);
  const expected = hmacHex(key, stringToSign(auth, canonicalRequest(req, auth)));
  if (!signaturesEqual(expected, auth.signature)) {
    throw storageError(
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
    );
  }
  return key;
}
