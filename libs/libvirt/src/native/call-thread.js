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
 *
 * A message is an operation's calls in sequence ({ id, steps }, see NativeStep in ../ffi.ts),
 * one round trip, a step's arguments naming the results of earlier steps (the handle a lookup
 * returned) as { $step, path }.
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

const FAILED = {
  none: () => false,
  null: (ret) => ret === null || ret === undefined,
  negative: (ret) => typeof ret !== 'number' || ret < 0,
};

/**
 * A step's arguments with each { $step, path } replaced by that step's return value (or, with
 * a path, by the value at that path in its arguments after the call); null when a step named
 * did not run or failed, so there is no handle to pass.
 */
function resolveArgs(args, results) {
  const resolved = [];
  for (const arg of args) {
    if (arg === null || typeof arg !== 'object' || !('$step' in arg)) {
      resolved.push(arg);
      continue;
    }
    const source = results[arg.$step];
    if (source === undefined || !source.ran || source.failed) return null;
    let value = arg.path === undefined ? source.ret : source.args;
    for (const key of arg.path ?? []) value = value?.[key];
    resolved.push(value);
  }
  return resolved;
}

/**
 * Runs a sequence's steps in order. A step runs when its `when` allows it ('ok': no 'ok' step
 * has failed yet; 'failed': one has; 'always') and every step it names succeeded. A step that
 * throws (koffi refusing an argument) counts as failed with that message, so the frees after
 * it still run.
 */
function runSteps(steps) {
  const results = [];
  let failedAt = -1;
  for (const step of steps) {
    const when = step.when ?? 'ok';
    const args =
      (when === 'ok' && failedAt >= 0) || (when === 'failed' && failedAt < 0)
        ? null
        : resolveArgs(step.args, results);
    if (args === null) {
      results.push({ ran: false, failed: false, ret: null, args: [], error: null });
      continue;
    }
    let result;
    try {
      if (step.fn === '$takePointerArray') {
        result = { ret: takePointerArray(args[0], args[1]), error: null };
      } else {
        const ret = native.fn(step.fn).apply(null, args);
        result = { ret, error: native.takeLastError() };
      }
      result.failed = FAILED[step.check](result.ret);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      result = { ret: null, error: { code: -1, domain: 0, message }, failed: true };
    }
    results.push({ ran: true, failed: result.failed, ret: result.ret, args, error: result.error });
    if (result.failed && when === 'ok' && failedAt < 0) failedAt = results.length - 1;
  }
  return { results, failedAt };
}

parentPort.on('message', ({ id, steps }) => {
  if (bindFailure !== null) {
    parentPort.postMessage({ type: 'failure', id, message: bindFailure });
    return;
  }
  const { results, failedAt } = runSteps(steps);
  parentPort.postMessage({ type: 'sequence', id, results, failedAt, threadId });
});
