/**
 * Request plumbing shared by every HTTP service: a request id on every response (and in
 * every log line written while serving it), JSON bodies with a size limit whose failures are
 * ordinary errors, and one error middleware that maps errors to the API's own fault body and
 * logs each failure once.
 */
import express, {
  type ErrorRequestHandler,
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
} from 'express';
import { AppError, toAppError, type Fault } from '@strato/errors';
import { newRequestId, withRequestId, type Logger } from '@strato/log';

declare module 'express-serve-static-core' {
  interface Request {
    requestId?: string;
  }
}

/** Sets x-openstack-request-id (and any extra header names) and enters the log context. */
export function requestContext(extraHeaders: readonly string[] = []): RequestHandler {
  return (req, res, next) => {
    const id = newRequestId();
    req.requestId = id;
    res.setHeader('x-openstack-request-id', id);
    for (const h of extraHeaders) res.setHeader(h, id);
    withRequestId(id, () => next());
  };
}

/** JSON body parser: oversize → PayloadTooLarge, malformed → Invalid. */
export function jsonBody(limit: number | string = '1mb'): RequestHandler {
  const parse = express.json({ limit, strict: false, type: ['application/json', 'application/*+json'] });
  return (req, res, next) => {
    parse(req, res, (err?: unknown) => {
      if (!err) return next();
      const e = err as { type?: string; status?: number };
      if (e.type === 'entity.too.large')
        return next(new AppError('PayloadTooLarge', 'Request Entity Too Large'));
      if (e.type === 'entity.parse.failed') return next(new AppError('Invalid', 'Malformed request body.'));
      if (e.status === 415 || e.type === 'encoding.unsupported' || e.type === 'charset.unsupported') {
        return next(new AppError('UnsupportedMediaType', 'Unsupported media type.'));
      }
      return next(new AppError('Invalid', 'Could not read the request body.'));
    });
  };
}

/** Wraps an async route so its rejection reaches the error middleware. */
export function route(
  fn: (req: Request, res: Response, next: NextFunction) => Promise<unknown>,
): RequestHandler {
  return (req, res, next) => {
    fn(req, res, next).catch(next);
  };
}

/** The last middleware: one fault body, one log line per failed request. */
export function errorHandler(toFault: (err: unknown) => Fault, log: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const appErr = toAppError(err);
    const fault = toFault(appErr);
    const line = { method: req.method, path: req.path, status: fault.status, kind: appErr.kind };
    if (fault.status >= 500)
      log.error({ ...line, err: err instanceof Error ? err : String(err) }, 'request failed');
    else log.info({ ...line, reason: appErr.message }, 'request refused');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(fault.status).json(fault.body);
  };
}

/** Unknown paths: the API's own 404 fault. */
export function notFoundHandler(): RequestHandler {
  return (_req, _res, next) => next(new AppError('NotFound', 'The resource could not be found.'));
}
