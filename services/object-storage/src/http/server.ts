/**
 * The object-storage port: a plain node:http handler in front of everything. Swift (/v1/…)
 * and S3 (signed) requests go straight to their handlers; the few other paths (probes,
 * /info, unknown paths) go to a small express app. Every request gets its request id and
 * its duration metric first, as express middleware would give it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Express, Request, RequestHandler, Response } from 'express';
import type { Logger } from '@strato/log';
import { looksLikeS3 } from '../auth/sigv4';
import { splitUrl, type ObjectRequest } from './common';
import { renderError } from './errors';
import type { SplitUrl } from './s3.router';

export interface ObjectPortDeps {
  /** Request id and metrics, in this order (express-style middleware). */
  before: readonly RequestHandler[];
  swift: (req: ObjectRequest, res: ServerResponse, url: SplitUrl) => Promise<void>;
  s3: (req: ObjectRequest, res: ServerResponse, url: SplitUrl) => Promise<void>;
  /** Everything else. */
  fallback: Express;
  log: Logger;
}

export function objectPortHandler(deps: ObjectPortDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { swift, s3, fallback, log } = deps;
  const dispatch = (req: ObjectRequest, res: ServerResponse): void => {
    const url = splitUrl(req.url ?? '/');
    let handler: (req: ObjectRequest, res: ServerResponse, url: SplitUrl) => Promise<void>;
    if (looksLikeS3(req.headers, url.query)) handler = s3;
    else if (url.path.startsWith('/v1/')) handler = swift;
    else {
      fallback(req, res);
      return;
    }
    handler(req, res, url).catch((err: unknown) => renderError(log, err, req, res));
  };
  // The middleware chain, composed once: before[0] → before[1] → … → dispatch.
  const chain = deps.before.reduceRight<(req: ObjectRequest, res: ServerResponse) => void>(
    (next, mw) => (req, res) =>
      mw(req as Request, res as Response, (err?: unknown) => {
        if (err) renderError(log, err, req, res);
        else next(req, res);
      }),
    dispatch,
  );
  // node:http always sets the method of a request it received
  return (req, res) => chain(req as ObjectRequest, res);
}
