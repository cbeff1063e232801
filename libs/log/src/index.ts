/**
 * Structured JSON logging (pino) with a request id that follows a request across HTTP and
 * the bus. The id lives in an AsyncLocalStorage context: HTTP middleware and bus consumers
 * enter it, and every log line written inside carries it as `reqId`.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import pino from 'pino';

export type Logger = pino.Logger;

interface RequestContext {
  requestId: string;
}

const context = new AsyncLocalStorage<RequestContext>();

/** Field paths that must never reach a log line. */
const REDACT = [
  'password',
  '*.password',
  '*.*.password',
  'token',
  '*.token',
  'secret',
  '*.secret',
  'headers["x-auth-token"]',
  'headers["x-subject-token"]',
  'headers.authorization',
  '*.headers["x-auth-token"]',
  '*.headers.authorization',
];

export interface LoggerOptions {
  level?: string;
  /** Where to write; defaults to stdout. Tests pass a stream to read lines back. */
  destination?: pino.DestinationStream;
}

export function createLogger(component: string, options: LoggerOptions = {}): Logger {
  const opts: pino.LoggerOptions = {
    name: 'strato',
    level: options.level ?? 'info',
    base: { component },
    redact: { paths: REDACT, censor: '***' },
    timestamp: pino.stdTimeFunctions.isoTime,
    mixin() {
      const id = context.getStore()?.requestId;
      return id ? { reqId: id } : {};
    },
  };
  return options.destination ? pino(opts, options.destination) : pino(opts);
}

/** A new OpenStack-style request id: `req-<uuid>`. */
export function newRequestId(): string {
  return `req-${randomUUID()}`;
}

/** Runs fn with requestId as the current request id (for logs and outgoing messages). */
export function withRequestId<T>(requestId: string, fn: () => T): T {
  return context.run({ requestId }, fn);
}

/** The request id of the work in progress, if any. */
export function currentRequestId(): string | undefined {
  return context.getStore()?.requestId;
}
