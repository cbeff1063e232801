'use strict';
/* eslint-disable @typescript-eslint/no-require-imports, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-argument --
   Plain CommonJS so the thread runs unchanged under node, tsx and jest. koffi's C calls are
   untyped by nature; the typed contract is ../ffi.ts, which supplies this file's ABI. */
/* global require, TextDecoder */
/**
 * The lifecycle-event thread (see ../events.ts). libvirt delivers events only from inside
 * virEventRunDefaultImpl, which blocks until something happens, so it gets a thread of its own:
 *   1. virEventRegisterDefaultImpl, before any connection exists (libvirt requires this order);
 *   2. open a private connection, register a VIR_DOMAIN_EVENT_ID_LIFECYCLE callback;
 *   3. loop virEventRunDefaultImpl. The callback runs on this very thread, inside that call,
 *      and posts {uuid, name, event, detail} to the main thread (postMessage needs no event
 *      loop turn here);
 *   4. a periodic virEventAddTimeout wakes the loop so it can see the stop flag. The flag is a
 *      SharedArrayBuffer cell: this thread never returns to its own JS event loop while
 *      looping, so a message could not reach it, and a thread blocked in C cannot be
 *      terminated.
 */
const { parentPort, workerData } = require('node:worker_threads');
const { bindLibvirt } = require('./bind.js');

const VIR_DOMAIN_EVENT_ID_LIFECYCLE = 0;
const VIR_UUID_STRING_BUFLEN = 37;

const { abi, uri, wakeMs, stopFlag, registerImpl } = workerData;
const stop = new Int32Array(stopFlag);

function fail(stage, native) {
  const error = native ? native.takeLastError() : null;
  parentPort.postMessage({ type: 'error', stage, error });
}

function main() {
  let native;
  try {
    native = bindLibvirt(abi);
  } catch (err) {
    parentPort.postMessage({
      type: 'error',
      stage: 'load',
      error: { code: -1, domain: 0, message: err instanceof Error ? err.message : String(err) },
    });
    return;
  }
  const { koffi, fn, callbacks } = native;

  // Process-global and once per process: events.ts tells us whether an earlier thread did it.
  if (registerImpl) {
    if (fn('virEventRegisterDefaultImpl')() < 0) return fail('register event loop', native);
    parentPort.postMessage({ type: 'implRegistered' });
  }

  // Watching needs only a read-only connection.
  const watched = fn('virConnectOpenReadOnly')(uri);
  if (watched === null) return fail(`open ${uri}`, native);

  const uuidBuf = new Uint8Array(VIR_UUID_STRING_BUFLEN);
  const decoder = new TextDecoder();
  const onLifecycle = koffi.register((_conn, dom, event, detail) => {
    // Called synchronously from virEventRunDefaultImpl on this thread; `dom` is only borrowed.
    let uuid = '';
    if (fn('virDomainGetUUIDString')(dom, uuidBuf) === 0) {
      const end = uuidBuf.indexOf(0);
      uuid = decoder.decode(uuidBuf.subarray(0, end < 0 ? uuidBuf.length : end));
    }
    const name = fn('virDomainGetName')(dom) ?? '';
    parentPort.postMessage({ type: 'event', event: { uuid, name, event, detail } });
    return 0;
  }, koffi.pointer(callbacks.lifecycle));
  const onTimeout = koffi.register(() => {}, koffi.pointer(callbacks.timeout));

  const callbackId = fn('virConnectDomainEventRegisterAny')(
    watched,
    null,
    VIR_DOMAIN_EVENT_ID_LIFECYCLE,
    onLifecycle,
    null,
    null,
  );
  if (callbackId < 0) {
    fail('register lifecycle callback', native);
    fn('virConnectClose')(watched);
    return;
  }
  const timer = fn('virEventAddTimeout')(wakeMs, onTimeout, null, null);
  if (timer < 0) {
    fail('add wake-up timer', native);
    fn('virConnectDomainEventDeregisterAny')(watched, callbackId);
    fn('virConnectClose')(watched);
    return;
  }

  parentPort.postMessage({ type: 'ready' });

  let loopError = null;
  while (Atomics.load(stop, 0) === 0) {
    if (fn('virEventRunDefaultImpl')() < 0) {
      loopError = native.takeLastError();
      break;
    }
  }

  fn('virConnectDomainEventDeregisterAny')(watched, callbackId);
  fn('virEventRemoveTimeout')(timer);
  fn('virConnectClose')(watched);
  // Nothing runs this thread's event loop any more, so libvirt can no longer call these.
  koffi.unregister(onLifecycle);
  koffi.unregister(onTimeout);
  if (loopError) parentPort.postMessage({ type: 'error', stage: 'event loop', error: loopError });
  parentPort.postMessage({ type: 'stopped' });
}

main();
