/**
 * Preload for profiling a service under a benchmark:
 *   NODE_OPTIONS="--import tsx --import file:///…/deploy/bench/cpu-profile.ts" CPU_PROF_DIR=<dir>
 * records a V8 CPU profile of the whole process and writes <dir>/<pid>.cpuprofile at exit.
 * (node refuses --cpu-prof in NODE_OPTIONS; this does the same through the inspector.)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env.CPU_PROF_DIR;
if (dir) {
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
