/**
 * Imported first by main.ts: object storage keeps many fsyncs and file operations in flight,
 * so libuv's thread pool is widened before its first use (the default 4 threads serialise
 * concurrent fsyncs). An operator's own UV_THREADPOOL_SIZE wins.
 */
process.env.UV_THREADPOOL_SIZE ??= '16';
