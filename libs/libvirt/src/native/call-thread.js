'use strict';
/* eslint-disable @typescript-eslint/no-require-imports, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-return --
   Plain CommonJS so the thread runs unchanged under node, tsx and jest. koffi's C calls are
   untyped by nature; the typed contract is ../ffi.ts, which supplies this file's ABI. */
/* global require */
/**
 * A libvirt call thread (see CallThreadPool in ../ffi.ts). It runs one C call at a time,
 * synchronously, so a blocking call (virDomainCreate on qemu:///system: seconds) blocks this
 * thread and never the JS main thread. Right after the call, on the same OS thread, it reads
 * the thread-local virGetLastError: that is the only place the error is correct.
 */
const { parentPort, workerData, threadId } = require('node:worker_threads');
const { bindLibvirt } = require('./bind.js');

let native = null;
let bindFailure = null;
try {
  native = bindLibvirt(workerData);
} catch (err) {
  bindFailure = `cannot load ${workerData.library}: ${err instanceof Error ? err.message : String(err)}`;
}

/** Decodes an array of `count` pointers that libvirt malloc'ed, then frees the array itself. */
function takePointerArray(ptr, count) {
  if (ptr === null || count <= 0) {
    if (ptr !== null) native.koffi.free(ptr);
    return [];
  }
  const items = native.koffi.decode(ptr, 'void *', count);
  native.koffi.free(ptr);
  return Array.from(items);
}

parentPort.on('message', (msg) => {
  const { id, fn, args } = msg;
  if (bindFailure !== null) {
    parentPort.postMessage({ type: 'failure', id, message: bindFailure });
    return;
  }
  try {
    if (fn === '$takePointerArray') {
      const ret = takePointerArray(args[0], args[1]);
      parentPort.postMessage({ type: 'result', id, ret, args: [], error: null, threadId });
      return;
    }
    const ret = native.fn(fn).apply(null, args);
    const error = native.takeLastError();
    parentPort.postMessage({ type: 'result', id, ret, args, error, threadId });
  } catch (err) {
    parentPort.postMessage({
      type: 'failure',
      id,
      message: err instanceof Error ? err.message : String(err),
    });
  }
});
