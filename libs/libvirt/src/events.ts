/**
 * Domain lifecycle events (started, stopped, crashed...) from a dedicated event thread; see
 * native/events-thread.js for what runs there and why.
 *
 * libvirt's default event loop is process-global C state: it is registered once per process
 * and only one thread may run it, so at most one watcher is active at a time per process.
 */
import { Worker } from 'node:worker_threads';
import * as path from 'node:path';

import { LIBVIRT_ABI } from './ffi';
import { LibvirtError, type RawLibvirtError } from './errors';

/** virDomainEventType, by name. */
export const LIFECYCLE_EVENTS = [
  'defined',
  'undefined',
  'started',
  'suspended',
  'resumed',
  'stopped',
  'shutdown',
  'pmsuspended',
  'crashed',
] as const;

export type LifecycleEventName = (typeof LIFECYCLE_EVENTS)[number] | 'unknown';

export interface LifecycleEvent {
  uuid: string;
  name: string;
  /** virDomainEventType as a name. */
  event: LifecycleEventName;
  /** The event's detail code (e.g. virDomainEventStoppedDetailType: 0 shutdown, 1 destroyed...). */
  detail: number;
}

export interface LifecycleWatch {
  /** Stops the event thread and closes its connection; resolves once the thread has exited. */
  stop(): Promise<void>;
}

export interface WatchOptions {
  /**
   * How often (ms) the event loop wakes up to check for stop(); stop() takes at most this
   * long. Default 250.
   */
  wakeIntervalMs?: number;
  /** Called if the event loop fails after start (the watch is then over). */
  onError?: (err: LibvirtError) => void;
}

type EventsThreadMessage =
  | { type: 'ready' }
  | { type: 'implRegistered' }
  | { type: 'stopped' }
  | { type: 'event'; event: { uuid: string; name: string; event: number; detail: number } }
  | { type: 'error'; stage: string; error: RawLibvirtError | null };

const EVENTS_THREAD_SCRIPT = path.join(__dirname, 'native', 'events-thread.js');

export function lifecycleEventName(code: number): LifecycleEventName {
  return LIFECYCLE_EVENTS[code] ?? 'unknown';
}

/** Process-wide facts about libvirt's global event loop (mirrors C state; see module doc). */
const eventLoop = { implRegistered: false, active: false };

function errorFrom(msg: { stage: string; error: RawLibvirtError | null }): LibvirtError {
  const raw = msg.error ?? { code: -1, domain: 0, message: 'unknown failure' };
  const operation = `lifecycle events: ${msg.stage}`;
  const plain = new LibvirtError(raw, { operation });
  // As for LibvirtConnection.open: failing to open is a connection failure, whatever the code.
  if (msg.stage.startsWith('open ') && plain.kind !== 'AccessDenied') {
    return new LibvirtError(raw, { kind: 'ConnectionFailed', operation });
  }
  return plain;
}

/**
 * Watches domain lifecycle events on `uri` from a dedicated thread with its own connection.
 * Resolves once the callback is registered (events from then on are delivered, in order);
 * rejects with a LibvirtError if that fails.
 */
export function watchLifecycle(
  uri: string,
  onEvent: (event: LifecycleEvent) => void,
  options: WatchOptions = {},
): Promise<LifecycleWatch> {
  const wakeMs = options.wakeIntervalMs ?? 250;
  if (!Number.isInteger(wakeMs) || wakeMs < 10 || wakeMs > 60_000) {
    return Promise.reject(new RangeError('wakeIntervalMs must be an integer between 10 and 60000'));
  }
  if (eventLoop.active) {
    return Promise.reject(
      new LibvirtError(
        { code: -1, domain: 0, message: 'a lifecycle watch is already running in this process' },
        { kind: 'OperationInvalid' },
      ),
    );
  }
  eventLoop.active = true;

  const stopFlag = new SharedArrayBuffer(4);
  const worker = new Worker(EVENTS_THREAD_SCRIPT, {
    workerData: {
      abi: LIBVIRT_ABI,
      uri,
      wakeMs,
      stopFlag,
      registerImpl: !eventLoop.implRegistered,
    },
  });

  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  void exited.then(() => {
    eventLoop.active = false;
  });

  return new Promise<LifecycleWatch>((resolve, reject) => {
    let ready = false;
    /** A failure before 'ready': reported once the thread has exited, so a new watch may start. */
    let startFailure: LibvirtError | null = null;
    const stop = async () => {
      Atomics.store(new Int32Array(stopFlag), 0, 1);
      await exited;
    };
    worker.on('message', (msg: EventsThreadMessage) => {
      switch (msg.type) {
        case 'ready':
          ready = true;
          resolve({ stop });
          break;
        case 'event':
          onEvent({ ...msg.event, event: lifecycleEventName(msg.event.event) });
          break;
        case 'error':
          if (ready) options.onError?.(errorFrom(msg));
          else startFailure ??= errorFrom(msg);
          break;
        case 'implRegistered':
          eventLoop.implRegistered = true;
          break;
        case 'stopped':
          break;
      }
    });
    worker.on('error', (err) => {
      const failure = new LibvirtError(
        { code: -1, domain: 0, message: err.message },
        { operation: 'lifecycle events thread' },
      );
      if (ready) options.onError?.(failure);
      else startFailure ??= failure;
    });
    void exited.then(() => {
      if (!ready) {
        reject(
          startFailure ??
            new LibvirtError({ code: -1, domain: 0, message: 'event thread exited before it was ready' }),
        );
      }
    });
  });
}
