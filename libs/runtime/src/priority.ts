/**
 * CPU priority of a service process. Background workers (the scheduler, compute agents) do
 * queued, asynchronous work whose latency no client waits on, so where they share cores with
 * the request-serving services they run at a lower priority (a higher nice value) and leave
 * the CPU to those first. Linux keeps a nice value per thread: every thread the process has
 * now is set, and threads started later inherit it from the thread that starts them.
 *
 * With autogroup scheduling (on in most distributions' kernels), a thread's nice value only
 * ranks it against the threads of its own session: each session is one group, and groups
 * share the CPU equally whatever their threads' nice values. A worker that leads its own
 * session (a daemon: systemd, setsid) is alone in its group, so the group's nice value is set
 * as well; otherwise (started from a shell or a supervisor) the session is not the worker's
 * alone and the group is left as it is.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
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
  } catch (err) {
    // Lowering nice below the current value needs CAP_SYS_NICE; raising it never does.
    log.warn({ nice, err: err instanceof Error ? err.message : String(err) }, 'cannot set process priority');
    return;
  }
  const group = leadsSession() ? setAutogroupNice(nice) : 'shared';
  log.info({ nice, threads: threads.length, autogroup: group }, 'process priority set');
}

/** True when this process is the leader of its session (its session id is its pid). */
function leadsSession(): boolean {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    // After "pid (comm) ": state, ppid, pgrp, session, …; comm may hold spaces and parentheses.
    const session = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
    return session === process.pid;
  } catch {
    return false;
  }
}

/** Sets the nice value of this session's autogroup; says what came of it, for the log. */
function setAutogroupNice(nice: number): 'set' | 'none' {
  try {
    writeFileSync('/proc/self/autogroup', String(nice));
    return 'set';
  } catch {
    return 'none'; // a kernel without autogroups, or a negative value without CAP_SYS_NICE
  }
}
