/**
 * Glance's error responses: webob's HTML pages (text/html; charset=UTF-8) with the status
 * line as title and the explanation in the body, e.g.
 *   <html> ... <title>404 Not Found</title> ... No image found with ID x<br /><br /> ...
 * A 401 carries Www-Authenticate pointing at Keystone; a 416 the object's size.
 */
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError, statusOf, toAppError } from '@strato/errors';
import type { Logger } from '@strato/log';
import { RangeNotSatisfiable } from '../domain/byte-range';

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  410: 'Gone',
  412: 'Precondition Failed',
  413: 'Request Entity Too Large',
  415: 'Unsupported Media Type',
  416: 'Requested Range Not Satisfiable',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** webob's explanation for a 401, which keystonemiddleware sends. */
const UNAUTHORIZED_TEXT =
  'This server could not verify that you are authorized to access the document you requested. ' +
  'Either you supplied the wrong credentials (e.g., bad password), or your browser does not ' +
  'understand how to supply the credentials required.';

const INTERNAL_TEXT = 'An unexpected error prevented the server from fulfilling your request.';

function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#x27;');
}

export function glanceHtml(status: number, explanation: string): string {
  const title = `${status} ${TITLES[status] ?? 'Error'}`;
  return (
    `<html>\n <head>\n  <title>${title}</title>\n </head>\n <body>\n  <h1>${title}</h1>\n` +
    `  ${escapeHtml(explanation)}<br /><br />\n\n\n\n </body>\n</html>`
  );
}

export interface GlanceFault {
  status: number;
  body: string;
  headers: Record<string, string>;
}

export function glanceFault(error: unknown, identityUrl: string): GlanceFault {
  const err = toAppError(error);
  const status = statusOf(err.kind);
  const headers: Record<string, string> = {};
  let text = err.message;
  if (err.kind === 'Internal') text = INTERNAL_TEXT;
  if (status === 401) {
    text = UNAUTHORIZED_TEXT;
    headers['www-authenticate'] = `Keystone uri="${identityUrl}"`;
  }
  if (error instanceof RangeNotSatisfiable) headers['content-range'] = `bytes */${error.size}`;
  return { status, body: glanceHtml(status, text), headers };
}

/** The last middleware: one HTML fault, one log line per failed request. */
export function glanceErrorHandler(log: Logger, identityUrl: string): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const fault = glanceFault(err, identityUrl);
    const kind = toAppError(err).kind;
    const line = { method: req.method, path: req.path, status: fault.status, kind };
    if (fault.status >= 500)
      log.error({ ...line, err: err instanceof Error ? err : String(err) }, 'request failed');
    else log.info({ ...line, reason: toAppError(err).message }, 'request refused');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(fault.status);
    for (const [k, v] of Object.entries(fault.headers)) res.setHeader(k, v);
    res.setHeader('content-type', 'text/html; charset=UTF-8');
    res.setHeader('content-length', Buffer.byteLength(fault.body));
    res.end(fault.body);
  };
}

export function glanceNotFound(): RequestHandler {
  return (_req, _res, next) => next(new AppError('NotFound', 'The resource could not be found.'));
}
