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

/** Media types read as JSON: application/json and application/<anything>+json. */
const JSON_MEDIA_TYPE = /^application\/(?:[a-z0-9!#$&^_.-]+\+)?json$/;

/**
 * JSON body parser: oversize → PayloadTooLarge, malformed → Invalid, an unsupported charset
 * or content encoding → UnsupportedMediaType; a body of another media type is left unread.
 *
 * The usual request (a JSON media type, utf-8, a Content-Length within the limit, no content
 * encoding) is read here directly: in the api's profile under bench:boot, express's general
 * body parser (charset decoding, type matching, its stream plumbing) took ~7% of the time
 * spent on POST /servers. Every other request (compressed, chunked, another charset,
 * oversize) goes to that parser, which has the same outcome for the usual request: the body
 * as UTF-8 text without a byte-order mark, {} when empty, JSON.parse otherwise.
 */
export function jsonBody(limitBytes = 1024 * 1024): RequestHandler {
  const general = express.json({
    limit: limitBytes,
    strict: false,
    type: ['application/json', 'application/*+json'],
  });
  return (req, res, next) => {
    const length = plainJsonLength(req, limitBytes);
    if (length === null) {
      general(req, res, (err?: unknown) => next(err === undefined ? undefined : bodyError(err)));
      return;
    }
    readJson(req, length, next);
  };
}

/** The Content-Length of a request readJson can take as it is, or null. */
function plainJsonLength(req: Request, limitBytes: number): number | null {
  const h = req.headers;
  if (h['transfer-encoding'] !== undefined || req.complete) return null;
  const encoding = h['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return null;
  const declared = h['content-length'];
  if (declared === undefined || !/^\d{1,15}$/.test(declared)) return null;
  const length = Number(declared);
  if (length > limitBytes) return null;
  const type = h['content-type'];
  if (type === undefined) return null;
  const [media = '', ...params] = type.split(';');
  if (!JSON_MEDIA_TYPE.test(media.trim().toLowerCase())) return null;
  const utf8 = params.every((p) => /^\s*charset\s*=\s*"?utf-?8"?\s*$/i.test(p));
  return utf8 ? length : null;
}

/** Reads `length` bytes of UTF-8 JSON into req.body ({} when empty). */
function readJson(req: Request, length: number, next: NextFunction): void {
  const chunks: Buffer[] = [];
  let received = 0;
  let settled = false;
  const finish = (err?: AppError) => {
    if (settled) return;
    settled = true;
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('error', onFailure);
    req.off('close', onFailure);
    next(err);
  };
  const onData = (chunk: Buffer) => {
    chunks.push(chunk);
    received += chunk.length;
  };
  const onEnd = () => {
    if (received !== length) return finish(new AppError('Invalid', 'Could not read the request body.'));
    let text = (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received)).toString('utf8');
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    try {
      req.body = text.length === 0 ? {} : (JSON.parse(text) as unknown);
    } catch {
      return finish(new AppError('Invalid', 'Malformed request body.'));
    }
    finish();
  };
  const onFailure = () => finish(new AppError('Invalid', 'Could not read the request body.'));
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('error', onFailure);
  req.on('close', onFailure);
}

/** The general parser's failures, as the API's own errors. */
function bodyError(err: unknown): AppError {
  const e = err as { type?: string; status?: number };
  if (e.type === 'entity.too.large') return new AppError('PayloadTooLarge', 'Request Entity Too Large');
  if (e.type === 'entity.parse.failed') return new AppError('Invalid', 'Malformed request body.');
  if (e.status === 415 || e.type === 'encoding.unsupported' || e.type === 'charset.unsupported') {
    return new AppError('UnsupportedMediaType', 'Unsupported media type.');
  }
  return new AppError('Invalid', 'Could not read the request body.');
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
export function errorHandler(
  toFault: (err: unknown) => Fault,
  log: Logger,
  options: {
    /** WWW-Authenticate on a 401: `Keystone uri="…"`, the identity service, as keystonemiddleware says. */
    challenge?: string;
  } = {},
): ErrorRequestHandler {
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
    if (fault.status === 401 && options.challenge) res.setHeader('WWW-Authenticate', options.challenge);
    res.status(fault.status).json(fault.body);
  };
}

/** Unknown paths: the API's own 404 fault. */
export function notFoundHandler(): RequestHandler {
  return (_req, _res, next) => next(new AppError('NotFound', 'The resource could not be found.'));
}
