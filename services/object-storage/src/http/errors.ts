/**
 * Error rendering for the object-storage port: a failed request gets its own API's error
 * (Swift's status and short HTML page, or S3's XML <Error>), logged once; unexpected errors
 * are a 500 with no detail. A request whose body was not read closes its connection.
 */
import type { ErrorRequestHandler } from 'express';
import { toAppError } from '@strato/errors';
import type { Logger } from '@strato/log';
import { splitUrl, type ObjectRequest, type ObjectResponse } from './common';
import { s3Fault } from './s3-xml';
import { swiftFault } from './swift-faults';

export function renderError(log: Logger, err: unknown, req: ObjectRequest, res: ObjectResponse): void {
  const appErr = toAppError(err);
  const path = splitUrl(req.url ?? '/').path;
  const fault =
    req.objectApi === 's3'
      ? s3Fault(err, req.s3Resource ?? path, req.requestId ?? '')
      : { ...swiftFault(err), contentType: 'text/html; charset=UTF-8' };
  const line = { method: req.method, path, status: fault.status, kind: appErr.kind };
  if (fault.status >= 500)
    log.error({ ...line, err: err instanceof Error ? err : String(err) }, 'request failed');
  else log.info({ ...line, reason: appErr.message }, 'request refused');
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (!req.complete) res.setHeader('Connection', 'close');
  res.statusCode = fault.status;
  res.setHeader('Content-Type', fault.contentType);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  res.setHeader('Content-Length', String(Buffer.byteLength(fault.body)));
  res.end(fault.body);
}

/** The same rendering as the error middleware of the express app (probes, /info, 404). */
export function objectStorageErrors(log: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => renderError(log, err, req, res);
}
