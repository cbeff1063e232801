/**
 * Signature Version 2 presigned URLs (AWSAccessKeyId, Expires, Signature), which awscli v1's
 * `s3 presign` still produces by default. Only the query form is accepted; requests signed in
 * headers must use Signature V4.
 */
import { createHmac } from 'node:crypto';
import { storageError } from '../domain/errors';
import { signaturesEqual } from './sigv4';

/** Sub-resources that are part of the V2 canonical resource. */
const SUB_RESOURCES = new Set([
  'acl',
  'delete',
  'location',
  'logging',
  'notification',
  'partNumber',
  'policy',
  'requestPayment',
  'response-cache-control',
  'response-content-disposition',
  'response-content-encoding',
  'response-content-language',
  'response-content-type',
  'response-expires',
  'tagging',
  'torrent',
  'uploadId',
  'uploads',
  'versionId',
  'versioning',
  'versions',
  'website',
]);

export interface SigV2Presign {
  accessKey: string;
  expires: number;
  signature: string;
}

export function parseSigV2Presign(query: URLSearchParams): SigV2Presign {
  const accessKey = query.get('AWSAccessKeyId');
  const signature = query.get('Signature');
  const expires = Number(query.get('Expires'));
  if (!accessKey || !signature || !Number.isInteger(expires)) {
    throw storageError(
      'AccessDenied',
      'Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters',
    );
  }
  return { accessKey, expires, signature };
}

export function verifySigV2Presign(
  req: { method: string; rawPath: string; headers: Record<string, string | string[] | undefined> },
  query: URLSearchParams,
  auth: SigV2Presign,
  secret: string,
  nowMs: number,
): void {
  const subs = [...query.entries()]
    .filter(([k]) => SUB_RESOURCES.has(k))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => (v === '' ? k : `${k}=${v}`));
  const amz = Object.entries(req.headers)
    .filter(([k]) => k.startsWith('x-amz-'))
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}:${Array.isArray(v) ? v.join(',') : (v ?? '').trim()}\n`)
    .join('');
  const header = (name: string) => {
    const v = req.headers[name];
    return Array.isArray(v) ? v.join(',') : (v ?? '');
  };
  const toSign = [
    req.method,
    header('content-md5'),
    header('content-type'),
    String(auth.expires),
    `${amz}${req.rawPath}${subs.length ? `?${subs.join('&')}` : ''}`,
  ].join('\n');
  const expected = createHmac('sha1', secret).update(toSign, 'utf8').digest('base64');
  if (!signaturesEqual(expected, auth.signature)) {
    throw storageError(
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
    );
  }
  if (nowMs > auth.expires * 1000) throw storageError('AccessDenied', 'Request has expired');
}
