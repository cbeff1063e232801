/**
 * Maps errors to the fault bodies OpenStack clients expect. Internal errors never show their
 * message or stack: the body says only that something failed, with the request id in logs.
 */
import { AppError, ErrorKind, toAppError } from './errors';

export interface Fault {
  status: number;
  body: unknown;
}

const STATUS: Record<ErrorKind, number> = {
  Invalid: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  MethodNotAllowed: 405,
  Conflict: 409,
  PayloadTooLarge: 413,
  UnsupportedMediaType: 415,
  QuotaExceeded: 403,
  RangeNotSatisfiable: 416,
  PreconditionFailed: 412,
  NotImplemented: 501,
  Unavailable: 503,
  Timeout: 504,
  Internal: 500,
};

export function statusOf(kind: ErrorKind): number {
  return STATUS[kind];
}

const KEYSTONE_TITLE: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Request Entity Too Large',
  415: 'Unsupported Media Type',
  416: 'Requested Range Not Satisfiable',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

function publicMessage(err: AppError): string {
  return err.kind === 'Internal'
    ? 'An unexpected error prevented the server from fulfilling your request.'
    : err.message;
}

/** Keystone: {"error": {"code": 404, "title": "Not Found", "message": "..."}} */
export function keystoneFault(error: unknown): Fault {
  const err = toAppError(error);
  const status = STATUS[err.kind];
  return {
    status,
    body: { error: { code: status, title: KEYSTONE_TITLE[status] ?? 'Error', message: publicMessage(err) } },
  };
}

const NOVA_NAME: Record<ErrorKind, string> = {
  Invalid: 'badRequest',
  Unauthorized: 'unauthorized',
  Forbidden: 'forbidden',
  NotFound: 'itemNotFound',
  MethodNotAllowed: 'badMethod',
  Conflict: 'conflictingRequest',
  PayloadTooLarge: 'overLimit',
  UnsupportedMediaType: 'badMediaType',
  QuotaExceeded: 'forbidden',
  RangeNotSatisfiable: 'badRequest',
  PreconditionFailed: 'conflictingRequest',
  NotImplemented: 'notImplemented',
  Unavailable: 'serviceUnavailable',
  Timeout: 'computeFault',
  Internal: 'computeFault',
};

/** Nova: {"itemNotFound": {"code": 404, "message": "..."}} and its siblings. */
export function novaFault(error: unknown): Fault {
  const err = toAppError(error);
  const status = STATUS[err.kind];
  return { status, body: { [NOVA_NAME[err.kind]]: { code: status, message: publicMessage(err) } } };
}
