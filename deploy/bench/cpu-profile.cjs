/**
 * Preload for profiling a service under a benchmark (plain JS, so compiled services need no
 * TypeScript loader):
 *   NODE_OPTIONS="--require …/deploy/bench/cpu-profile.cjs" CPU_PROF_DIR=<dir>
 * records a V8 CPU profile of the main thread and writes <dir>/<pid>.cpuprofile at exit.
 * (node refuses --cpu-prof in NODE_OPTIONS; this does the same through the inspector.)
 */
'use strict';
const { mkdirSync, writeFileSync } = require('node:fs');
const { Session } = require('node:inspector');
const { join } = require('node:path');
const { isMainThread } = require('node:worker_threads');

const dir = process.env.CPU_PROF_DIR;
if (dir && isMainThread) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 500 });
  session.post('Profiler.start');
  process.on('exit', () => {
    // Same-thread inspector sessions answer synchronously, so this completes before exit.
    session.post('Profiler.stop', (err, result) => {
      if (err) return;
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
