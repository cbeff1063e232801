/**
 * Names as users give them. Object names are arbitrary UTF-8 up to 1024 bytes (no NUL);
 * container names up to 256 bytes without '/'. Names never reach a filesystem path: data
 * files are named by random data ids, so no name can escape the data directory.
 */
import { storageError } from './errors';

export const MAX_OBJECT_NAME_BYTES = 1024;
export const MAX_CONTAINER_NAME_BYTES = 256;
export const MAX_META_NAME_BYTES = 128;
export const MAX_META_VALUE_BYTES = 256;

/** Percent-decodes one path component; invalid escapes or invalid UTF-8 are refused. */
export function decodePathComponent(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw storageError('InvalidArgument', 'Invalid UTF8 or contains NULL');
  }
}

export function checkObjectName(name: string): string {
  if (name.length === 0) throw storageError('InvalidObjectName', 'Object name is empty');
  if (name.includes('\0')) throw storageError('InvalidObjectName', 'Invalid UTF8 or contains NULL');
  if (hasLoneSurrogate(name)) throw storageError('InvalidObjectName', 'Invalid UTF8 or contains NULL');
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_OBJECT_NAME_BYTES) {
    throw storageError(
      'KeyTooLongError',
      `Object name length of ${bytes} longer than ${MAX_OBJECT_NAME_BYTES}`,
    );
  }
  return name;
}

export function checkContainerName(name: string): string {
  if (name.length === 0) throw storageError('InvalidBucketName', 'Container name is empty');
  if (name.includes('/')) throw storageError('InvalidBucketName', 'Container name may not contain "/"');
  if (name.includes('\0') || hasLoneSurrogate(name)) {
    throw storageError('InvalidBucketName', 'Invalid UTF8 or contains NULL');
  }
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_CONTAINER_NAME_BYTES) {
    throw storageError(
      'InvalidBucketName',
      `Container name length of ${bytes} longer than ${MAX_CONTAINER_NAME_BYTES}`,
    );
  }
  return name;
}

/** S3 bucket naming rules (the subset every region enforces). */
export function isValidBucketName(name: string): boolean {
  if (name.length < 3 || name.length > 63) return false;
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(name)) return false;
  if (name.includes('..') || name.includes('.-') || name.includes('-.')) return false;
  if (/^\d+\.\d+\.\d+\.\d+$/.test(name)) return false;
  if (name.startsWith('xn--') || name.endsWith('-s3alias')) return false;
  return true;
}

export function checkBucketName(name: string): string {
  if (!isValidBucketName(name)) throw storageError('InvalidBucketName', 'The specified bucket is not valid.');
  return name;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function hasLoneSurrogate(s: string): boolean {
  return LONE_SURROGATE.test(s);
}
