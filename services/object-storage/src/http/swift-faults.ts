/**
 * Swift's error responses: the status code is what clients act on; the body is the short
 * HTML page the Swift proxy sends. Unexpected failures are one 500 with no detail.
 */
import { toAppError, statusOf } from '@strato/errors';
import { storageCodeOf, type StorageCode } from '../domain/errors';

const TITLES: Record<number, [string, string]> = {
  400: [
    'Bad Request',
    'The server could not comply with the request since it is either malformed or otherwise incorrect.',
  ],
  401: [
    'Unauthorized',
    'This server could not verify that you are authorized to access the document you requested.',
  ],
  403: ['Forbidden', 'Access was denied to this resource.'],
  404: ['Not Found', 'The resource could not be found.'],
  405: ['Method Not Allowed', 'The method is not allowed for this resource.'],
  409: ['Conflict', 'There was a conflict when trying to complete your request.'],
  411: ['Length Required', 'Length Required'],
  412: ['Precondition Failed', 'A precondition for this request was not met.'],
  413: ['Request Entity Too Large', 'The body of your request was too large for this server.'],
  416: ['Requested Range Not Satisfiable', 'The Range requested is not available.'],
  422: ['Unprocessable Entity', 'Unable to process the contained instructions'],
  499: ['Client Disconnect', 'The client was disconnected during request.'],
  500: [
    'Internal Error',
    'The server has either erred or is incapable of performing the requested operation.',
  ],
  501: ['Not Implemented', 'The requested method is not implemented by this server.'],
  503: ['Service Unavailable', 'The server is currently unavailable. Please try again at a later time.'],
};

/** Where Swift answers differently from the error kind's usual status. */
const SWIFT_STATUS: Partial<Record<StorageCode, number>> = {
  BadDigest: 422,
  MissingContentLength: 411,
  IncompleteBody: 499,
};

/** Errors whose message tells the client what to fix. */
const SHOW_DETAIL: ReadonlySet<StorageCode> = new Set<StorageCode>([
  'InvalidManifest',
  'KeyTooLongError',
  'InvalidObjectName',
  'InvalidBucketName',
  'InvalidArgument',
]);

export interface SwiftFault {
  status: number;
  body: string;
}

export function swiftFault(error: unknown): SwiftFault {
  const err = toAppError(error);
  const code = storageCodeOf(error);
  let status = statusOf(err.kind);
  let detail: string | undefined;
  if (code !== undefined) {
    status = SWIFT_STATUS[code] ?? status;
    if (SHOW_DETAIL.has(code)) detail = err.message;
  }
  if (status === 412 && err.kind === 'Invalid') status = 400;
  const [title, text] = TITLES[status] ?? [err.kind, ''];
  const message = detail ?? text;
  return { status, body: `<html><h1>${title}</h1><p>${escapeHtml(message)}</p></html>` };
}

function escapeHtml(s: string): string {
  return s.replace(/[<>&"]/g, (c) =>
    c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '&' ? '&amp;' : '&quot;',
  );
}
