/**
 * Benchmark helpers: a closed-loop HTTP load generator (fixed concurrency, keep-alive),
 * percentiles, and process RSS from /proc. Figures are printed, never asserted.
 */
import { closeSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import http from 'node:http';

export interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  perSecond: number;
  p50ms: number;
  p99ms: number;
}

export interface Request {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** Status that counts as success. */
  expect: number;
}

/**
 * The p-th percentile of ascending `sorted` by nearest rank: the smallest value with at least
 * p% of the values at or below it (of 100 values, p99 is the 99th and p50 the 50th).
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(rank, 1)) - 1]!;
}

function once(agent: http.Agent, port: number, req: Request): Promise<number> {
  return new Promise((resolve, reject) => {
    const r = http.request(
      { host: '127.0.0.1', port, method: req.method, path: req.path, headers: req.headers, agent },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    r.on('error', reject);
    r.end(req.body);
  });
}

/** Runs `make()` requests at `concurrency` for `seconds` (after a short warm-up). */
export async function load(
  port: number,
  make: (i: number) => Request,
  opts: { concurrency: number; seconds: number; warmupSeconds?: number },
): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.concurrency });
  const run = async (seconds: number, record: boolean) => {
    const latencies: number[] = [];
    let errors = 0;
    let i = 0;
    const until = performance.now() + seconds * 1000;
    const worker = async () => {
      while (performance.now() < until) {
        const req = make(i++);
        const t0 = performance.now();
        try {
          const status = await once(agent, port, req);
          if (status !== req.expect) errors++;
        } catch {
          errors++;
        }
        if (record) latencies.push(performance.now() - t0);
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: opts.concurrency }, worker));
    return { latencies, errors, elapsed: (performance.now() - started) / 1000 };
  };
  await run(opts.warmupSeconds ?? 1, false);
  const { latencies, errors, elapsed } = await run(opts.seconds, true);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    errors,
    seconds: elapsed,
    perSecond: latencies.length / elapsed,
    p50ms: percentile(latencies, 50),
    p99ms: percentile(latencies, 99),
  };
}

/**
 * A process's resident memory split in two (MiB): pages only it maps (private), and pages it
 * shares with other processes (the node binary, libc, libvirt: the same physical pages in
 * every Node.js process, which a sum of RSS counts once per process).
 */
export function residentMiB(pid: number): { rss: number; pss: number; private: number; shared: number } {
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(rollup)?.[1] ?? 0);
  const rss = kb('Rss') / 1024;
  const own = (kb('Private_Clean') + kb('Private_Dirty')) / 1024;
  // Pss: private pages plus each shared page divided by the processes mapping it.
  return { rss, pss: kb('Pss') / 1024, private: own, shared: rss - own };
}

const PAGE = 4096;
/** A pagemap entry: bit 63 says the page is in RAM, bits 0-54 name its physical frame. */
const PRESENT = 1n << 63n;
const FRAME = (1n << 55n) - 1n;

/**
 * The memory a set of processes holds together, in MiB: the distinct physical pages that any
 * of them maps, read from /proc/<pid>/pagemap, so a page of the node binary that six processes
 * map counts once, as it takes RAM once. Null where the kernel hides frame numbers (they read
 * as 0 without CAP_SYS_ADMIN): then only the per-process figures of residentMiB are known.
 */
export function residentTogetherMiB(pids: readonly number[]): number | null {
  const frames = new Set<number>();
  for (const pid of pids) {
    const ranges = residentRanges(pid);
    const fd = openSync(`/proc/${pid}/pagemap`, 'r');
    try {
      for (const [start, end] of ranges) {
        const pages = (end - start) / PAGE;
        const buf = Buffer.alloc(pages * 8);
        readSync(fd, buf, 0, buf.length, (start / PAGE) * 8);
        for (let i = 0; i < pages; i++) {
          const entry = buf.readBigUInt64LE(i * 8);
          if ((entry & PRESENT) === 0n) continue;
          const frame = Number(entry & FRAME);
          if (frame === 0) return null;
          frames.add(frame);
        }
      }
    } finally {
      closeSync(fd);
    }
  }
  return (frames.size * PAGE) / (1024 * 1024);
}

/** Where user space ends on x86-64 (the kernel's [vsyscall] page lies above, never resident). */
const USER_SPACE_END = 2 ** 47;

/** The address ranges of a process's mappings that hold any resident page, from smaps. */
function residentRanges(pid: number): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  let current: [number, number] | null = null;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const range = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (range) {
      current = [parseInt(range[1]!, 16), parseInt(range[2]!, 16)];
    } else if (
      current &&
      current[1] <= USER_SPACE_END &&
      line.startsWith('Rss:') &&
      !/^Rss:\s+0 kB/.test(line)
    ) {
      ranges.push(current);
    }
  }
  return ranges;
}

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/**
 * CPU seconds used so far by every process on the machine, grouped: the named processes
 * under their names, the rest by command (postgres, beam.smp for RabbitMQ, redis-server,
 * kernel threads together). Compare two readings to see where a phase's CPU went.
 */
export function cpuSecondsByProcess(named: ReadonlyMap<number, string>): Map<string, number> {
  const used = new Map<string, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // ended meanwhile
    }
    const command = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const seconds = (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
    const group =
      named.get(Number(entry)) ??
      (/^(kworker|ksoftirqd|kdamond|kcompactd|rcu_|jbd2|migration)/.test(command)
        ? 'kernel threads'
        : command === 'beam.smp'
          ? 'rabbitmq (beam.smp)'
          : command);
    used.set(group, (used.get(group) ?? 0) + seconds);
  }
  return used;
}

export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

export function fmt(r: LoadResult): string {
  return `${r.perSecond.toFixed(0).padStart(7)} req/s   p50 ${r.p50ms.toFixed(2).padStart(7)} ms   p99 ${r.p99ms
    .toFixed(2)
    .padStart(7)} ms   (${r.requests} requests, ${r.errors} errors)`;
}

/** The machine's own ceiling for one Node.js HTTP round trip: an empty server, same load. */
export async function bareHttpBaseline(opts: { concurrency: number; seconds: number }): Promise<LoadResult> {
  const { spawn } = await import('node:child_process');
  const child = spawn(
    process.execPath,
    [
      '-e',
      `require('http').createServer((q,s)=>{q.resume();q.on('end',()=>{s.setHeader('content-type','application/json');s.end('{}')})}).listen(0,'127.0.0.1',function(){console.log(this.address().port)})`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve) =>
    child.stdout.once('data', (b: Buffer) => resolve(Number(b.toString()))),
  );
  try {
    return await load(port, () => ({ method: 'GET', path: '/', expect: 200 }), opts);
  } finally {
    child.kill();
  }
}
