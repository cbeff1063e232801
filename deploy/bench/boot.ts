/**
 * npm run bench:boot — boots BENCH_SERVERS servers (default 100) through POST /servers at
 * BENCH_CONCURRENCY (default 10) against a running stack and prints: servers/s until all are
 * ACTIVE, p50/p99 of POST /servers, p50/p99 of GET /servers/detail while booting and after
 * (with every server there), the time to delete them all (until the list is empty), and the
 * RSS of every process it started (at idle before the run, 3 s after it and BENCH_IDLE_AFTER_S,
 * default 30, s after it), and the CPU every process on the machine used while booting. Figures
 * are printed, never asserted.
 *
 * Modes (BENCH_MODE: all-in-one, multi-process or both, the default):
 * - all-in-one: deploy/all-in-one.ts with a temp DATA_DIR (SQLite, in-memory bus and cache)
 *   and its one agent on libvirt's test:///default with a big inventory override;
 * - multi-process: PostgreSQL, RabbitMQ and Redis; api, scheduler, image, object-storage and
 *   2 compute agents (test:///default, each its own process) as separate processes.
 *
 * Services run as a deployment runs them: compiled first (npm run build), then `node dist/<name>.js`
 * with no TypeScript loader. The memory table shows each service's RSS (private and shared
 * pages, and PSS), the sum of RSS, the sum of PSS, and the memory all services hold together,
 * each shared page counted once (read from /proc/<pid>/pagemap as root, else estimated).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { allInOneEnv, cleanupOnInterrupt, startProcess, type ServiceProcess } from '../../test/support/stack';
import {
  ComputeApi,
  adminToken,
  startComputeStack,
  type ComputeStack,
} from '../../test/support/compute-stack';
import { buildAll } from '../build';
import {
  bareHttpBaseline,
  cpuSecondsByProcess,
  fmt,
  percentile,
  residentMiB,
  residentTogetherMiB,
} from './lib';

const SERVERS = Number(process.env.BENCH_SERVERS ?? 100);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 10);
const MODE = process.env.BENCH_MODE ?? 'both';
/**
 * How often the boot phase lists servers (GET /servers/detail) to see them ACTIVE, as a
 * dashboard would; also the resolution of the boot time. Listing 100 servers costs the api
 * real work, so a tighter loop would measure the poller more than the boots.
 */
const POLL_MS = Number(process.env.BENCH_POLL_MS ?? 100);
/** BENCH_IDLE_AFTER_S: when the memory is read once more after the run (default 30 s; 0: not). */
const IDLE_AFTER_S = Number(process.env.BENCH_IDLE_AFTER_S ?? 30);
/** BENCH_WORKER_NICE: the scheduler's and the agents' PROCESS_NICE (their default, 10, when unset). */
const WORKER_NICE: Record<string, string> =
  process.env.BENCH_WORKER_NICE === undefined ? {} : { PROCESS_NICE: process.env.BENCH_WORKER_NICE };
/** BENCH_SCHEDULER_DB_POOL_MAX: the scheduler's DB_POOL_MAX (its default, 3, when unset). */
const SCHEDULER_POOL: Record<string, string> =
  process.env.BENCH_SCHEDULER_DB_POOL_MAX === undefined
    ? {}
    : { DB_POOL_MAX: process.env.BENCH_SCHEDULER_DB_POOL_MAX };
/** Inventory per agent: room for every benchmark server with the flavor below. */
const BIG_INVENTORY = {
  VCPUS: '100000',
  MEMORY_MB: '10000000',
  DISK_GB: '100000',
  RESERVED_HOST_MEMORY_MB: '0',
};

interface Target {
  label: string;
  computePort: number;
  imageUrl: string;
  identityUrl: string;
  password: string;
  procs: ServiceProcess[];
}

// ---------------------------------------------------------------- HTTP with timing

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY * 2 });

function request(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; body: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const r = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent,
        headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString(),
            ms: performance.now() - t0,
          }),
        );
      },
    );
    r.on('error', reject);
    r.end(body);
  });
}

function stats(latencies: number[]): string {
  const sorted = [...latencies].sort((a, b) => a - b);
  const ms = (v: number | undefined) => `${(v ?? NaN).toFixed(1).padStart(7)} ms`;
  return `p50 ${ms(percentile(sorted, 50))}   p99 ${ms(percentile(sorted, 99))}   max ${ms(sorted.at(-1))}   (${sorted.length} requests)`;
}

// ---------------------------------------------------------------- memory

/**
 * Memory of the services at a moment: each process's RSS, their sum, their PSS, and the memory
 * they hold together: the distinct physical pages any of them maps (the node binary and libc
 * are the same physical pages in each Node.js process; a compute agent also maps libvirt),
 * which the sum of RSS counts once per process. Reading frame numbers needs root; elsewhere the
 * bench estimates it as every process's private pages plus the largest shared set.
 */
function printRss(label: string, procs: ServiceProcess[]): void {
  console.log(`  RSS ${label}:`);
  let rss = 0;
  let pss = 0;
  let own = 0;
  let shared = 0;
  for (const p of procs) {
    const m = residentMiB(p.child.pid!);
    rss += m.rss;
    pss += m.pss;
    own += m.private;
    shared = Math.max(shared, m.shared);
    console.log(
      `    ${p.name.padEnd(32)} ${m.rss.toFixed(0).padStart(5)} MiB   (private ${m.private.toFixed(0)}, shared ${m.shared.toFixed(0)}, PSS ${m.pss.toFixed(0)})`,
    );
  }
  const line = (name: string, mib: number, note: string) =>
    console.log(`    ${name.padEnd(32)} ${mib.toFixed(0).padStart(5)} MiB   ${note}`);
  line('all services, RSS summed', rss, '(each shared page counted once per process mapping it)');
  line(
    'all services, PSS summed',
    pss,
    '(proportional set size: each shared page split among the processes mapping it)',
  );
  const together = residentTogetherMiB(procs.map((p) => p.child.pid!));
  if (together === null) {
    line(
      'all services, shared once',
      own + shared,
      `(estimate: private pages of each + the largest shared set, ${shared.toFixed(0)} MiB, once)`,
    );
  } else {
    line(
      'all services, resident together',
      together,
      '(distinct physical pages mapped by any of them, from /proc/<pid>/pagemap)',
    );
  }
}

/** Where the machine's CPU went while booting: per process, per boot, and in all. */
function printCpu(before: Map<string, number>, after: Map<string, number>, seconds: number): void {
  const used = [...after]
    .map(([name, s]) => [name, s - (before.get(name) ?? 0)] as const)
    .filter(([, s]) => s >= 0.01)
    .sort((a, b) => b[1] - a[1]);
  const total = used.reduce((sum, [, s]) => sum + s, 0);
  const cores = cpus().length;
  console.log(
    `  CPU while booting: ${total.toFixed(2)} s of ${(cores * seconds).toFixed(2)} s available ` +
      `(${cores} cores x ${seconds.toFixed(2)} s), ${((1000 * total) / SERVERS).toFixed(1)} ms per server:`,
  );
  for (const [name, s] of used.slice(0, 10)) {
    console.log(
      `    ${name.padEnd(28)} ${s.toFixed(2).padStart(6)} s   ${((1000 * s) / SERVERS).toFixed(1).padStart(5)} ms per server`,
    );
  }
}

// ---------------------------------------------------------------- the run

async function prepare(
  t: Target,
): Promise<{ headers: Record<string, string>; flavor: string; image: string }> {
  const auth = await adminToken(t.identityUrl, t.password);
  const api = new ComputeApi(`http://127.0.0.1:${t.computePort}/v2.1`, auth.token);
  await api.ok('PUT', `/os-quota-sets/${auth.projectId}`, {
    quota_set: { instances: -1, cores: -1, ram: -1 },
  });
  const flavor = (
    await api.ok<{ flavor: { id: string } }>('POST', '/flavors', {
      flavor: { name: 'bench.tiny', vcpus: 1, ram: 64, disk: 1 },
    })
  ).flavor.id;
  const headers = { 'x-auth-token': auth.token };
  const created = await fetch(`${t.imageUrl}/v2/images`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bench', disk_format: 'raw', container_format: 'bare' }),
  });
  const image = ((await created.json()) as { id: string }).id;
  const upload = await fetch(`${t.imageUrl}/v2/images/${image}/file`, {
    method: 'PUT',
    headers: { ...headers, 'content-type': 'application/octet-stream' },
    body: Buffer.alloc(64 * 1024, 1),
  });
  if (upload.status !== 204) throw new Error(`image upload: ${upload.status} ${await upload.text()}`);
  return { headers, flavor, image };
}

async function settle(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

async function bench(t: Target): Promise<void> {
  const { headers, flavor, image } = await prepare(t);
  const port = t.computePort;
  // One warm-up boot and delete, so that caches and connections are as in steady state.
  const warm = await request(
    port,
    'POST',
    '/v2.1/servers',
    headers,
    JSON.stringify({ server: { name: 'warm-up', flavorRef: flavor, imageRef: image } }),
  );
  const warmId = (JSON.parse(warm.body) as { server: { id: string } }).server.id;
  for (;;) {
    const s = await request(port, 'GET', `/v2.1/servers/${warmId}`, headers);
    if ((JSON.parse(s.body) as { server: { status: string } }).server.status !== 'BUILD') break;
    await settle(20);
  }
  await request(port, 'DELETE', `/v2.1/servers/${warmId}`, headers);
  for (;;) {
    if ((await request(port, 'GET', `/v2.1/servers/${warmId}`, headers)).status === 404) break;
    await settle(20);
  }
  // Open the keep-alive connections the run will use (CONCURRENCY workers and the poller) now:
  // a burst of new connections at its start would measure connection accepts by a busy
  // server, one per event-loop turn, not the requests.
  await Promise.all(
    Array.from({ length: CONCURRENCY + 1 }, () => request(port, 'GET', '/v2.1/flavors', headers)),
  );
  await settle(3000);

  console.log(`\n${t.label}`);
  printRss('at idle, before the run', t.procs);

  // Boot: CONCURRENCY workers POST until SERVERS are accepted; a poller lists until all are ACTIVE.
  const posts: number[] = [];
  const listsWhileBooting: number[] = [];
  let next = 0;
  let failures = 0;
  const named = new Map(t.procs.map((p) => [p.child.pid!, p.name]));
  named.set(process.pid, 'bench:boot (the client)');
  const cpuBefore = cpuSecondsByProcess(named);
  const started = performance.now();
  const windowStart = process.hrtime.bigint();
  const worker = async () => {
    while (next < SERVERS) {
      const i = next++;
      const r = await request(
        port,
        'POST',
        '/v2.1/servers',
        headers,
        JSON.stringify({ server: { name: `bench-${i}`, flavorRef: flavor, imageRef: image } }),
      );
      posts.push(r.ms);
      if (r.status !== 202) {
        failures++;
        if (failures <= 3) console.log(`  POST /servers ${r.status}: ${r.body.slice(0, 300)}`);
      }
    }
  };
  let active = 0;
  let errors = 0;
  const poller = async () => {
    for (;;) {
      const r = await request(port, 'GET', '/v2.1/servers/detail?limit=1000', headers);
      listsWhileBooting.push(r.ms);
      const servers = (JSON.parse(r.body) as { servers: { status: string }[] }).servers;
      active = servers.filter((s) => s.status === 'ACTIVE').length;
      errors = servers.filter((s) => s.status === 'ERROR').length;
      if (active + errors >= SERVERS - failures && next >= SERVERS) return;
      if (performance.now() - started > 300_000) throw new Error(`not all ACTIVE after 300 s: ${active}`);
      await settle(POLL_MS);
    }
  };
  const posting = Promise.all(Array.from({ length: CONCURRENCY }, worker));
  await Promise.all([posting, poller()]);
  const bootSeconds = (performance.now() - started) / 1000;
  const cpuAfter = cpuSecondsByProcess(named);
  recordProfileWindow(windowStart, process.hrtime.bigint());

  // Lists with every server there, at the same concurrency.
  const listsAfter: number[] = [];
  const until = performance.now() + 3000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < until) {
        listsAfter.push((await request(port, 'GET', '/v2.1/servers/detail', headers)).ms);
      }
    }),
  );

  // Delete all, then wait for an empty list.
  const list = JSON.parse((await request(port, 'GET', '/v2.1/servers?limit=1000', headers)).body) as {
    servers: { id: string }[];
  };
  const ids = list.servers.map((s) => s.id);
  const deletes: number[] = [];
  const deleteStarted = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let id = ids.pop(); id !== undefined; id = ids.pop()) {
        deletes.push((await request(port, 'DELETE', `/v2.1/servers/${id}`, headers)).ms);
      }
    }),
  );
  for (;;) {
    const r = await request(port, 'GET', '/v2.1/servers?limit=1000', headers);
    if ((JSON.parse(r.body) as { servers: unknown[] }).servers.length === 0) break;
    await settle(10);
  }
  const deleteSeconds = (performance.now() - deleteStarted) / 1000;

  console.log(
    `  boot ${SERVERS} servers at concurrency ${CONCURRENCY}: ${(SERVERS / bootSeconds).toFixed(1)} servers/s ` +
      `(${bootSeconds.toFixed(2)} s until all ACTIVE; ${active} ACTIVE, ${errors} ERROR, ${failures} POST failures)`,
  );
  printCpu(cpuBefore, cpuAfter, bootSeconds);
  console.log(`  POST /servers                          ${stats(posts)}`);
  console.log(`  GET /servers/detail while booting      ${stats(listsWhileBooting)}`);
  console.log(`  GET /servers/detail, ${SERVERS} servers (c=${CONCURRENCY}) ${stats(listsAfter)}`);
  console.log(
    `  delete all: ${deleteSeconds.toFixed(2)} s until the list is empty   (DELETE ${stats(deletes)})`,
  );
  await settle(3000);
  printRss('at idle, 3 s after the run', t.procs);
  // V8 gives back the heap a run grew only after some quiet time (measured: within 20 s).
  if (IDLE_AFTER_S > 3) {
    await settle((IDLE_AFTER_S - 3) * 1000);
    printRss(`at idle, ${IDLE_AFTER_S} s after the run`, t.procs);
  }
}

async function allInOne(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'strato-bench-boot-'));
  const env = await allInOneEnv(dataDir);
  const proc = await startProcess(
    'all-in-one',
    'deploy/all-in-one.ts',
    { ...env, LIBVIRT_URI: 'test:///default', ...BIG_INVENTORY, ...profileEnv('all-in-one') },
    `http://127.0.0.1:${env.IDENTITY_PORT}/readyz`,
  );
  const stop = async () => {
    await proc.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  const forgetCleanup = cleanupOnInterrupt(stop);
  try {
    await bench({
      label: 'all-in-one (SQLite, in-memory bus and cache, 1 agent on test:///default)',
      computePort: Number(env.COMPUTE_PORT),
      imageUrl: env.IMAGE_PUBLIC_URL!,
      identityUrl: env.IDENTITY_PUBLIC_URL!,
      password: readFileSync(join(dataDir, 'admin-password'), 'utf8').trim(),
      procs: [proc],
    });
  } finally {
    forgetCleanup();
    await stop();
  }
}

async function multiProcess(): Promise<void> {
  let stack: ComputeStack | null = null;
  try {
    stack = await startComputeStack({
      apiEnv: profileEnv('api'),
      schedulerEnv: { ...profileEnv('scheduler'), ...WORKER_NICE, ...SCHEDULER_POOL },
      agentEnv: { LIBVIRT_URI: 'test:///default', ...BIG_INVENTORY, ...WORKER_NICE, ...profileEnv('agent') },
      agents: [{ hosts: ['bench1', 'bench2'] }],
    });
    await bench({
      label:
        'multi-process (PostgreSQL, RabbitMQ, Redis; api, scheduler, image, object-storage, 2 agents on test:///default)',
      computePort: stack.computePort,
      imageUrl: stack.env.IMAGE_PUBLIC_URL!,
      identityUrl: stack.identityUrl,
      password: stack.password,
      procs: stack.procs,
    });
  } finally {
    await stack?.stop();
  }
}

/** BENCH_CPU_PROF=<dir>: the named processes write V8 CPU profiles under <dir>/<name> when they stop. */
function profileEnv(name: string): Record<string, string> {
  const dir = process.env.BENCH_CPU_PROF;
  return dir
    ? {
        NODE_OPTIONS: `--require ${join(__dirname, 'cpu-profile.cjs')}`,
        CPU_PROF_DIR: join(dir, name),
      }
    : {};
}

/**
 * Under BENCH_CPU_PROF, writes <dir>/boot-window.json: when the boots began and ended, in
 * microseconds of the monotonic clock that V8's CPU profiles also use, so a profile can be
 * cut to the boot alone (start-up and the list and delete phases left out).
 */
function recordProfileWindow(start: bigint, end: bigint): void {
  const dir = process.env.BENCH_CPU_PROF;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'boot-window.json'),
    JSON.stringify({ startMicros: Number(start / 1000n), endMicros: Number(end / 1000n) }),
  );
}

async function main(): Promise<void> {
  console.log(
    `bench:boot on ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}): ${SERVERS} servers, concurrency ${CONCURRENCY}`,
  );
  const bare = await bareHttpBaseline({ concurrency: CONCURRENCY, seconds: 3 });
  console.log("\nthis machine's own limit");
  console.log(`  empty Node.js HTTP server (c=${CONCURRENCY}) ${fmt(bare)}`);
  await buildAll();
  process.env.STRATO_RUN_COMPILED = '1'; // startProcess runs dist/<name>.js
  console.log('services compiled (npm run build) and run with node, as deployed');
  if (MODE === 'all-in-one' || MODE === 'both') await allInOne();
  if (MODE === 'multi-process' || MODE === 'both') await multiProcess();
  agent.destroy();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
