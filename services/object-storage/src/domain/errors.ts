/**
 * Storage failures: an AppError kind (what every API maps) plus a stable S3-style code for
 * the cases an API needs to tell apart (S3 renders the code; Swift maps a few to their own
 * statuses, e.g. BadDigest → 422). Match on `code`, never on instanceof.
 */
import { AppError, type ErrorKind } from '@strato/errors';

export const STORAGE_CODES = {
  NoSuchBucket: 'NotFound',
  NoSuchKey: 'NotFound',
  NoSuchUpload: 'NotFound',
  BucketAlreadyOwnedByYou: 'Conflict',
  BucketAlreadyExists: 'Conflict',
  BucketNotEmpty: 'Conflict',
  InvalidBucketName: 'Invalid',
  InvalidObjectName: 'Invalid',
  KeyTooLongError: 'Invalid',
  BadDigest: 'Invalid',
  XAmzContentSHA256Mismatch: 'Invalid',
  IncompleteBody: 'Invalid',
  InvalidRange: 'RangeNotSatisfiable',
  EntityTooSmall: 'Invalid',
  EntityTooLarge: 'PayloadTooLarge',
  InvalidPart: 'Invalid',
  InvalidPartOrder: 'Invalid',
  MalformedXML: 'Invalid',
  InvalidArgument: 'Invalid',
  InvalidRequest: 'Invalid',
  InvalidDigest: 'Invalid',
  MissingContentLength: 'Invalid',
  InvalidManifest: 'Invalid',
  PreconditionFailed: 'PreconditionFailed',
  SignatureDoesNotMatch: 'Forbidden',
  InvalidAccessKeyId: 'Forbidden',
  AccessDenied: 'Forbidden',
  RequestTimeTooSkewed: 'Forbidden',
  AuthorizationHeaderMalformed: 'Invalid',
  AuthorizationQueryParametersError: 'Invalid',
  MethodNotAllowed: 'MethodNotAllowed',
  NotImplemented: 'NotImplemented',
  ServiceUnavailable: 'Unavailable',
} as const satisfies Record<string, ErrorKind>;

export type StorageCode = keyof typeof STORAGE_CODES;

export class StorageError extends AppError {
  constructor(
    readonly code: StorageCode,
    message: string,
  ) {
    super(STORAGE_CODES[code], message);
  }
}

export function storageError(code: StorageCode, message: string): StorageError {
  return new StorageError(code, message);
}

/** The storage code carried by an error, if any (works across package copies). */
export function storageCodeOf(err: unknown): StorageCode | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code in STORAGE_CODES ? (code as StorageCode) : undefined;
}
