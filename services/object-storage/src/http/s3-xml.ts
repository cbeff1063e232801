/**
 * S3's XML: error bodies and a small reader for the request documents S3 clients send
 * (Delete, CompleteMultipartUpload). Every value written is escaped.
 */
import { statusOf, toAppError } from '@strato/errors';
import { storageCodeOf, storageError, type StorageCode } from '../domain/errors';
import { xmlEscape } from './common';

const DEFAULT_CODE: Record<string, StorageCode | 'InternalError'> = {
  Invalid: 'InvalidArgument',
  Unauthorized: 'AccessDenied',
  Forbidden: 'AccessDenied',
  NotFound: 'NoSuchKey',
  MethodNotAllowed: 'MethodNotAllowed',
  Conflict: 'InvalidRequest',
  PayloadTooLarge: 'EntityTooLarge',
  RangeNotSatisfiable: 'InvalidRange',
  PreconditionFailed: 'PreconditionFailed',
  NotImplemented: 'NotImplemented',
  Unavailable: 'ServiceUnavailable',
};

const STATUS_OVERRIDE: Partial<Record<StorageCode, number>> = {
  MissingContentLength: 411,
  NoSuchBucket: 404,
  BucketAlreadyOwnedByYou: 409,
};

export function s3Fault(
  error: unknown,
  resource: string,
  requestId: string,
): { status: number; body: string; contentType: string } {
  const err = toAppError(error);
  const code = storageCodeOf(error) ?? DEFAULT_CODE[err.kind] ?? 'InternalError';
  const status = code === 'InternalError' ? 500 : (STATUS_OVERRIDE[code] ?? statusOf(err.kind));
  const message =
    code === 'InternalError' ? 'We encountered an internal error. Please try again.' : err.message;
  const body =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message>` +
    `<Resource>${xmlEscape(resource)}</Resource><RequestId>${xmlEscape(requestId)}</RequestId></Error>`;
  return { status, body, contentType: 'application/xml' };
}

/** Decodes the five XML entities and numeric character references. */
export function xmlUnescape(s: string): string {
  return s.replace(/&(lt|gt|amp|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_, e: string) => {
    switch (e) {
      case 'lt':
        return '<';
      case 'gt':
        return '>';
      case 'amp':
        return '&';
      case 'quot':
        return '"';
      case 'apos':
        return "'";
      default:
        return String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    }
  });
}

/** The text of every <tag> element directly found in xml (namespace prefixes allowed). */
export function elements(xml: string, tag: string): string[] {
  const re = new RegExp(`<(?:[\\w-]+:)?${tag}(?:\\s[^>]*)?>([\\s\\S]*?)</(?:[\\w-]+:)?${tag}>`, 'g');
  return Array.from(xml.matchAll(re), (m) => m[1]!);
}

function text(xml: string, tag: string): string | undefined {
  const [first] = elements(xml, tag);
  if (first === undefined) return undefined;
  const cdata = /^<!\[CDATA\[([\s\S]*)\]\]>$/.exec(first.trim());
  return cdata ? cdata[1] : xmlUnescape(first);
}

function requireRoot(xml: string, root: string): string {
  const [body] = elements(xml, root);
  if (body === undefined) {
    throw storageError(
      'MalformedXML',
      'The XML you provided was not well-formed or did not validate against our published schema.',
    );
  }
  return body;
}

export function parseDeleteRequest(xml: string): { keys: string[]; quiet: boolean } {
  const body = requireRoot(xml, 'Delete');
  const keys = elements(body, 'Object').map((o) => {
    const key = text(o, 'Key');
    if (key === undefined) throw storageError('MalformedXML', 'Each Object needs a Key.');
    return key;
  });
  if (keys.length === 0 || keys.length > 1000) {
    throw storageError('MalformedXML', 'A Delete request lists 1 to 1000 objects.');
  }
  return { keys, quiet: text(body, 'Quiet')?.trim() === 'true' };
}

export function parseCompleteRequest(xml: string): { partNumber: number; etag: string }[] {
  const body = requireRoot(xml, 'CompleteMultipartUpload');
  return elements(body, 'Part').map((p) => {
    const n = Number(text(p, 'PartNumber')?.trim());
    const etag = text(p, 'ETag')?.trim();
    if (!Number.isInteger(n) || etag === undefined) {
      throw storageError('MalformedXML', 'Each Part needs a PartNumber and an ETag.');
    }
    return { partNumber: n, etag };
  });
}
