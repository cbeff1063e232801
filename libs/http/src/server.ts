import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RunningServer {
  server: Server;
  port: number;
  /** Stops accepting, lets in-flight requests finish (up to graceMs), then closes. */
  close(graceMs?: number): Promise<void>;
}

let inFlight = 0;

/**
 * HTTP requests this process has received and not yet answered, over all its servers (the
 * all-in-one runs every service's in one process and lets them go before background work).
 */
export function requestsInFlight(): number {
  return inFlight;
}

/** Waiters of afterRequests, let go when the last request in flight is answered. */
const idleWaiters = new Set<() => void>();

/**
 * Resolves on a later turn of the event loop, once this process has no HTTP request in flight
 * or maxWaitMs have passed: background work (the api's outbox relay) waits here so that the
 * requests being served go first, and is slowed by a burst of them, never stopped. What piles
 * up meanwhile then goes in one batch.
 */
export function afterRequests(maxWaitMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    setImmediate(() => {
      if (inFlight === 0) return resolve();
      const go = () => {
        clearTimeout(deadline);
        idleWaiters.delete(go);
        resolve();
      };
      const deadline = setTimeout(go, maxWaitMs);
      idleWaiters.add(go);
    });
  });
}

/** Serves an express app, or any plain request handler on a hot path. */
export function listen(app: RequestListener, port: number, host: string): Promise<RunningServer> {
  const server = createServer((req, res) => {
    inFlight++;
    let counted = true;
    const done = () => {
      if (!counted) return;
      counted = false;
      if (--inFlight === 0) for (const go of [...idleWaiters]) go();
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
