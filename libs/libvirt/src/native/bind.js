'use strict';
/* eslint-disable @typescript-eslint/no-require-imports, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-return --
   Plain CommonJS so the thread runs unchanged under node, tsx and jest. koffi's C calls are
   untyped by nature; the typed contract is ../ffi.ts, which supplies this file's ABI. */
/* global require, module */
/**
 * Shared by the native threads: binds libvirt with koffi from the ABI description that
 * ../ffi.ts passes as workerData (one source of truth, no TypeScript needed at runtime, so the
 * threads run the same under node, tsx and jest).
 */
const koffi = require('koffi');

/**
 * Loads the library, declares types and returns a lazy function table: a prototype is bound on
 * first use, so a symbol missing from an older libvirt only fails the call that needs it.
 */
function bindLibvirt(abi) {
  for (const alias of abi.pointerAliases) koffi.alias(alias, 'void *');
  for (const [name, fields] of Object.entries(abi.structs)) koffi.struct(name, fields);
  const callbacks = {};
  for (const [key, proto] of Object.entries(abi.callbacks)) callbacks[key] = koffi.proto(proto);
  const lib = koffi.load(abi.library);
  const bound = new Map();
  const fn = (name) => {
    let f = bound.get(name);
    if (f === undefined) {
      const proto = abi.functions[name];
      if (proto === undefined) throw new Error(`unknown libvirt function ${name}`);
      f = lib.func(proto);
      bound.set(name, f);
    }
    return f;
  };
  // Silence libvirt's default handler (which prints every error to stderr). The handler is
  // the C library's free(): libvirt calls handler(userData, err) and we pass userData = NULL,
  // and free(NULL) is defined to do nothing. A C function, unlike a JS callback, can be
  // invoked from any libvirt thread without hopping to a JS thread (no deadlock, no cost).
  // Errors are still recorded thread-locally, where virGetLastError reads them.
  const libc = koffi.load('libc.so.6');
  fn('virSetErrorFunc')(null, libc.symbol('free'));

  /** Reads and clears this thread's last libvirt error; null when the last call succeeded. */
  const takeLastError = () => {
    const ptr = fn('virGetLastError')();
    if (ptr === null) return null;
    // The virError is owned by libvirt (thread-local storage): decode it, never free it.
    const err = koffi.decode(ptr, 'virError');
    const raw = {
      code: err.code,
      domain: err.domain,
      message: err.message,
      level: err.level,
      str1: err.str1,
    };
    fn('virResetLastError')();
    return raw;
  };

  return { koffi, lib, fn, callbacks, takeLastError };
}

module.exports = { bindLibvirt };
