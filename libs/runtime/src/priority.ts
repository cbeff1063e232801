/**
 * CPU priority of a service process. Background workers (the scheduler, compute agents) do
 * queued, asynchronous work whose latency no client waits on, so where they share cores with
 * the request-serving services they run at a lower priority (a higher nice value) and leave
 * the CPU to those first. Linux keeps a nice value per thread: every thread the process has
 * now is set, and threads started later inherit it from the thread that starts them.
 */
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';
import type { Logger } from '@strato/log';

/** Sets `nice` (-20…19) on every thread of this process; a refusal is logged, never fatal. */
export function applyNice(nice: number, log: Logger): void {
  if (nice === 0) return;
  let threads: number[];
  try {
    threads = readdirSync('/proc/self/task').map(Number);
  } catch {
    threads = [process.pid]; // no /proc: the main thread (the whole process elsewhere than Linux)
  }
  try {
    for (const tid of threads) setPriority(tid, nice);
    log.info({ nice, threads: threads.length }, 'process priority set');
  } catch (err) {
    // Lowering nice below the current value needs CAP_SYS_NICE; raising it never does.
    log.warn({ nice, err: err instanceof Error ? err.message : String(err) }, 'cannot set process priority');
  }
}
