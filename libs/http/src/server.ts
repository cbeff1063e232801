import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RunningServer {
  server: Server;
  port: number;
  /** Stops accepting, lets in-flight requests finish (up to graceMs), then closes. */
  close(graceMs?: number): Promise<void>;
}

/** Serves an express app, or any plain request handler on a hot path. */
let inFlight = 0;

/**
 * HTTP requests this process has received and not yet answered, over all its servers (the
 * all-in-one runs every service's in one process and lets them go before background work).
 */
export function requestsInFlight(): number {
  return inFlight;
}

/**
 * Resolves on a later turn of the event loop, once this process has no HTTP request in flight
 * or maxWaitMs have passed: background work (the api's outbox relay) waits here so that the
 * requests being served go first, and is slowed by a burst of them, never stopped. What piles
 * up meanwhile then goes in one batch.
 */
export function afterRequests(maxWaitMs = 20): Promise<void> {
  const since = performance.now();
  return new Promise<void>((resolve) => {
    const check = () => {
      if (inFlight === 0 || performance.now() - since >= maxWaitMs) resolve();
      else setTimeout(check, 1);
    };
    setImmediate(check);
  });
}

export function listen(app: RequestListener, port: number, host: string): Promise<RunningServer> {
  const server = createServer((req, res) => {
    inFlight++;
    let counted = true;
    const done = () => {
      if (counted) inFlight--;
      counted = false;
    };
    res.once('finish', done);
    res.once('close', done);
    app(req, res);
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const actual = (server.address() as AddressInfo).port;
      resolve({
        server,
        port: actual,
        close: (graceMs = 10_000) =>
          new Promise<void>((done) => {
            const timer = setTimeout(() => server.closeAllConnections(), graceMs);
            server.close(() => {
              clearTimeout(timer);
              done();
            });
            server.closeIdleConnections();
          }),
      });
    });
  });
}
