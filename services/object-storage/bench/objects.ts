/**
 * npm run bench:objects — what issue 3 asks to measure, in one run, against the service in
 * its own process (SQLite, fsync on, data under a temporary directory on the same disk):
 * 4 KiB PUT/GET objects/s at concurrency 16 with p50/p99 (Swift and S3), 256 MiB PUT/GET MB/s
 * (Swift and S3) beside the raw disk's sequential write (fsync) and read speed and beside the
 * other limits a large PUT meets on this machine (MD5 on one core: every PUT returns the MD5
 * of its body as its ETag; what the bench client pushes into a bare node server that discards
 * the body), the peak RSS of the service while a 2 GiB object streams through it, and listing
 * 10,000 objects in pages of 1,000.
 * Small requests also report CPU per request (service and client): throughput alone is
 * unreliable on a machine shared with other work. Large GETs are read by a lean raw-socket
 * client (see leanGet). BENCH_SERVER_NODE_ARGS (e.g. "--cpu-prof") profiles the service.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, request, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { TokenService, parseSigningKeys } from '@strato/auth';
import { MemoryCache } from '@strato/cache';
import { EARLY_SYNC_BYTES } from '../src/backend/fs-backend';
import { canonicalRequest, signingKey, hmacHex, stringToSign, type SigV4Auth } from '../src/auth/sigv4';
import { BENCH_ACCESS_KEY, BENCH_PROJECT, BENCH_SECRET_KEY } from './server';

const KEYS = 'bench:benchmark-signing-key-0123456789abcdef0123';
const MiB = 1024 * 1024;
const CONCURRENCY = 16;
const SMALL = 4096;

interface Target {
  port: number;
  token: string;
  agent: Agent;
  /** The service's process id (to read its CPU time). */
  pid: number;
}

/** CPU seconds (user + system) a process has used so far. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function s3Headers(method: string, path: string, query: string): Record<string, string> {
  const amzDate = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  const auth: SigV4Auth = {
    accessKey: BENCH_ACCESS_KEY,
    date: amzDate.slice(0, 8),
    region: 'us-east-1',
    service: 's3',
    signedHeaders: ['host', 'x-amz-content-sha256', 'x-amz-date'],
    signature: '',
    amzDate,
    payloadHash: 'UNSIGNED-PAYLOAD',
    presigned: false,
  };
  const headers = { host: 'bench', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'x-amz-date': amzDate };
  const key = signingKey(BENCH_SECRET_KEY, auth.date, auth.region, auth.service);
  const sig = hmacHex(
    key,
    stringToSign(auth, canonicalRequest({ method, rawPath: path, rawQuery: query, headers }, auth)),
  );
  return {
    ...headers,
    authorization: `AWS4-HMAC-SHA256 Credential=${BENCH_ACCESS_KEY}/${auth.date}/us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=${sig}`,
  };
}

type Api = 'swift' | 's3';

function apiPath(api: Api, container: string, name: string): string {
  return api === 'swift'
    ? `/v1/AUTH_${BENCH_PROJECT}/${container}${name ? `/${name}` : ''}`
    : `/${container}${name ? `/${name}` : ''}`;
}

/** GET of a large object through leanGet. */
function getLarge(t: Target, api: Api, container: string, name: string) {
  const path = apiPath(api, container, name);
  return leanGet(t.port, path, api === 'swift' ? { 'x-auth-token': t.token } : s3Headers('GET', path, ''));
}

function call(
  t: Target,
  api: Api,
  method: string,
  container: string,
  name: string,
  body?: Buffer | AsyncIterable<Buffer>,
  length?: number,
  query = '',
): Promise<{ status: number; bytes: number }> {
  const path = apiPath(api, container, name);
  const headers: Record<string, string> =
    api === 'swift' ? { 'x-auth-token': t.token } : s3Headers(method, path, query);
  if (length !== undefined) headers['content-length'] = String(length);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: t.port,
        method,
        path: query ? `${path}?${query}` : path,
        headers,
        agent: t.agent,
      },
      (res: IncomingMessage) => {
        let bytes = 0;
        res.on('data', (c: Buffer) => (bytes += c.length));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else {
      void (async () => {
        for await (const chunk of body) {
          if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
        }
        req.end();
      })().catch(reject);
    }
  });
}

/** One reusable receive buffer for leanGet: large reads, no allocation per chunk. */
const RECEIVE_BUFFER = Buffer.allocUnsafe(4 * MiB);

/**
 * GET of a large body with as little client work as possible (node's http client costs more
 * CPU per byte than the server's whole GET path on this machine): a raw socket reading into
 * one reused buffer, status and Content-Length parsed from the head, body bytes counted.
 */
function leanGet(
  port: number,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    let head = '';
    let status = 0;
    let length = -1;
    let bytes = 0;
    const done = () => {
      socket.destroy();
      resolve({ status, bytes });
    };
    const socket = connect({
      host: '127.0.0.1',
      port,
      onread: {
        buffer: RECEIVE_BUFFER,
        callback: (n: number, buf: Uint8Array) => {
          if (length < 0) {
            head += Buffer.from(buf.subarray(0, n)).toString('latin1');
            const end = head.indexOf('\r\n\r\n');
            if (end < 0) return true;
            status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
            length = Number(/\r\ncontent-length: *(\d+)/i.exec(head.slice(0, end))?.[1] ?? 0);
            bytes = head.length - end - 4;
          } else {
            bytes += n;
          }
          if (bytes >= length) done();
          return true;
        },
      },
    });
    socket.on('connect', () => {
      const lines = Object.entries({ host: 'bench', ...headers }).map(([k, v]) => `${k}: ${v}\r\n`);
      socket.write(`GET ${path} HTTP/1.1\r\n${lines.join('')}connection: close\r\n\r\n`);
    });
    socket.on('error', reject);
    socket.on('end', () => (length >= 0 && bytes >= length ? undefined : reject(new Error('GET cut short'))));
  });
}

function expectStatus(r: { status: number }, ...ok: number[]): void {
  if (!ok.includes(r.status)) throw new Error(`unexpected status ${r.status}`);
}

async function* repeated(total: number, chunk: Buffer): AsyncGenerator<Buffer> {
  for (let sent = 0; sent < total; sent += chunk.length)
    yield chunk.subarray(0, Math.min(chunk.length, total - sent));
}

/** Nearest rank, as deploy/bench's (this package may not import from outside it). */
function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length, Math.max(Math.ceil((p / 100) * sorted.length), 1)) - 1]!;
}

async function smallOps(t: Target, api: Api, container: string, count: number) {
  const body = randomBytes(SMALL);
  const run = async (op: (i: number) => Promise<void>) => {
    const latencies: number[] = [];
    let next = 0;
    const serverCpu0 = await cpuSeconds(t.pid);
    const clientCpu0 = process.cpuUsage();
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < count) {
          const i = next++;
          const t0 = performance.now();
          await op(i);
          latencies.push(performance.now() - t0);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const clientCpu = process.cpuUsage(clientCpu0);
    const serverMs = ((await cpuSeconds(t.pid)) - serverCpu0) * 1000;
    latencies.sort((a, b) => a - b);
    return {
      perSecond: count / seconds,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      // CPU per request, to compare runs on a machine shared with other work
      serverMsPerOp: serverMs / count,
      clientMsPerOp: (clientCpu.user + clientCpu.system) / 1000 / count,
    };
  };
  const put = await run(async (i) =>
    expectStatus(await call(t, api, 'PUT', container, `small-${i}`, body, SMALL), 200, 201),
  );
  const get = await run(async (i) => expectStatus(await call(t, api, 'GET', container, `small-${i}`), 200));
  return { put, get };
}

async function dropCaches(): Promise<boolean> {
  try {
    await writeFile('/proc/sys/vm/drop_caches', '1');
    return true;
  } catch {
    return false;
  }
}

/** Large transfers are repeated this many times and their median reported (a shared machine is noisy). */
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/**
 * One sequential write as a server could do it at best: a new file in the same directory as
 * the service's data, `size` bytes in 1 MiB writes, then fsync of the file and of its
 * directory. With `earlySyncBytes` the file is also fdatasynced in the background every that
 * many bytes, as the service does (the disk then writes back while more bytes arrive, so the
 * final fsync has little left). MB/s.
 */
async function rawWrite(path: string, size: number, chunk: Buffer, earlySyncBytes: number): Promise<number> {
  await rm(path, { force: true });
  const t0 = performance.now();
  const fh = await open(path, 'wx');
  let early: Promise<void> | null = null;
  let syncedUpTo = 0;
  for (let off = 0; off < size; off += chunk.length) {
    await fh.write(chunk);
    const written = off + chunk.length;
    if (earlySyncBytes > 0 && written - syncedUpTo >= earlySyncBytes && !early) {
      syncedUpTo = written;
      early = fh.datasync().then(() => {
        early = null;
      });
    }
  }
  await early;
  await fh.sync();
  await fh.close();
  const dh = await open(dirname(path), 'r');
  await dh.sync();
  await dh.close();
  return size / MiB / ((performance.now() - t0) / 1000);
}

/**
 * The disk's own sequential write (with fsync) and read speed; leaves the file for bareGet.
 * The write is measured both with one fsync at the end and with the service's background
 * fdatasyncs; the faster of the two is the disk's figure.
 */
async function rawDisk(dir: string, size: number) {
  const path = join(dir, 'raw.bin');
  const chunk = randomBytes(MiB);
  const plain: number[] = [];
  const overlapped: number[] = [];
  const reads: number[] = [];
  for (let i = 0; i < REPEAT; i++) {
    plain.push(await rawWrite(path, size, chunk, 0));
    overlapped.push(await rawWrite(path, size, chunk, EARLY_SYNC_BYTES));
    await dropCaches();
    const rh = await open(path, 'r');
    const buf = Buffer.allocUnsafe(MiB);
    const t0 = performance.now();
    for (;;) {
      const { bytesRead } = await rh.read(buf, 0, MiB, null);
      if (bytesRead === 0) break;
    }
    reads.push(size / MiB / ((performance.now() - t0) / 1000));
    await rh.close();
  }
  const writePlain = median(plain);
  const writeOverlapped = median(overlapped);
  return {
    write: Math.max(writePlain, writeOverlapped),
    writePlain,
    writeOverlapped,
    read: median(reads),
    path,
  };
}

/**
 * MD5 on one core, MB/s: the bound for any server that returns a body's MD5 as its ETag
 * (one MD5 stream cannot be split over cores). Measured in the bench process while the
 * service is idle, over the same amount of data in the same 1 MiB pieces.
 */
function md5Rate(size: number): number {
  const chunk = randomBytes(MiB);
  const rates: number[] = [];
  for (let i = 0; i < REPEAT; i++) {
    const t0 = performance.now();
    const md5 = createHash('md5');
    for (let off = 0; off < size; off += MiB) md5.update(chunk);
    md5.digest();
    rates.push(size / MiB / ((performance.now() - t0) / 1000));
  }
  return median(rates);
}

/**
 * The bench client's own ceilings for large objects: a bare node:http server in its own
 * process (like the service) that streams the same file from disk for a GET (page cache
 * dropped first), and for a PUT either drops the body (the loopback HTTP receive rate) or
 * MD5-hashes it on its event loop (the digest every PUT must compute), driven by the same
 * client code. The service cannot beat the receive rate on this machine.
 */
async function bareCeilings(
  path: string,
  size: number,
): Promise<{ get: number; put: number; putMd5: number }> {
  const server = fork(join(__dirname, 'bare-server.ts'), [path], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      server.once('message', (m) => resolve((m as { port: number }).port));
      server.once('exit', (code) => reject(new Error(`bare server exited ${code}`)));
    });
    const t: Target = { port, token: '', agent: new Agent({ keepAlive: true }), pid: server.pid! };
    const chunk = randomBytes(MiB);
    const gets: number[] = [];
    const puts: number[] = [];
    const putsMd5: number[] = [];
    const put = async (name: string) => {
      const t0 = performance.now();
      expectStatus(await call(t, 'swift', 'PUT', 'bare', name, repeated(size, chunk), size), 201);
      return size / MiB / ((performance.now() - t0) / 1000);
    };
    for (let i = 0; i < REPEAT; i++) {
      puts.push(await put('discard'));
      putsMd5.push(await put('md5'));
      await dropCaches();
      const t0 = performance.now();
      const got = await leanGet(port, '/file', {});
      const seconds = (performance.now() - t0) / 1000;
      if (got.bytes !== size) throw new Error(`bare GET returned ${got.bytes} bytes`);
      gets.push(size / MiB / seconds);
    }
    t.agent.destroy();
    return { get: median(gets), put: median(puts), putMd5: median(putsMd5) };
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  }
}

async function bigObject(t: Target, api: Api, container: string, size: number) {
  const chunk = randomBytes(MiB);
  const puts: number[] = [];
  const gets: number[] = [];
  let putSeconds = 0;
  let serverCpu = 0;
  let clientCpu = 0;
  for (let i = 0; i < REPEAT; i++) {
    const server0 = await cpuSeconds(t.pid);
    const client0 = process.cpuUsage();
    let t0 = performance.now();
    expectStatus(await call(t, api, 'PUT', container, 'big', repeated(size, chunk), size), 200, 201);
    const seconds = (performance.now() - t0) / 1000;
    puts.push(size / MiB / seconds);
    putSeconds += seconds;
    serverCpu += (await cpuSeconds(t.pid)) - server0;
    const client = process.cpuUsage(client0);
    clientCpu += (client.user + client.system) / 1e6;
    await dropCaches();
    t0 = performance.now();
    const got = await getLarge(t, api, container, 'big');
    expectStatus(got, 200);
    if (got.bytes !== size) throw new Error(`GET returned ${got.bytes} bytes`);
    gets.push(size / MiB / ((performance.now() - t0) / 1000));
  }
  return {
    put: median(puts),
    get: median(gets),
    // CPU used while PUTs ran, in cores (2 = both cores of this machine busy)
    putServerCores: serverCpu / putSeconds,
    putClientCores: clientCpu / putSeconds,
  };
}

async function rss(pid: number): Promise<{ rssMiB: number; hwmMiB: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024;
  return { rssMiB: kb('VmRSS'), hwmMiB: kb('VmHWM') };
}

async function main(): Promise<void> {
  const base = process.env.BENCH_DIR ?? join(process.cwd(), 'data');
  await mkdir(base, { recursive: true });
  const dir = await mkdtemp(join(base, 'bench-objects-'));
  const child: ChildProcess = fork(join(__dirname, 'server.ts'), [], {
    // BENCH_SERVER_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", profiles the service.
    execArgv: ['--import', 'tsx', ...(process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean)],
    env: {
      ...process.env,
      DATA_DIR: dir,
      TOKEN_SIGNING_KEYS: KEYS,
      OBJECT_STORE_PORT: '0',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (m) => resolve((m as { port: number }).port));
      child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
    });
    const token = new TokenService({
      keys: parseSigningKeys(KEYS),
      cache: new MemoryCache(),
      ttlSeconds: 3600,
    }).issue({
      userId: 'bench',
      userName: 'bench',
      userDomainId: 'default',
      userDomainName: 'Default',
      project: { id: BENCH_PROJECT, name: BENCH_PROJECT, domainId: 'default', domainName: 'Default' },
      roles: [],
      methods: ['password'],
    }).token;
    const t: Target = {
      port,
      token,
      agent: new Agent({ keepAlive: true, maxSockets: CONCURRENCY }),
      pid: child.pid!,
    };
    for (const c of ['swift-small', 'swift-big', 's3-small', 's3-big', 'listing', 'huge']) {
      expectStatus(await call(t, 'swift', 'PUT', c, ''), 201, 202);
    }
    const count = Number(process.env.BENCH_SMALL_COUNT ?? 5000);
    const big = Number(process.env.BENCH_BIG_MIB ?? 256) * MiB;
    const lines: string[] = [];
    const say = (s: string) => {
      lines.push(s);
      process.stdout.write(`${s}\n`);
    };
    // the machine may be shared: its load beside the figures tells how much they can be trusted
    const load = () => `load average ${loadavg()[0]!.toFixed(2)} on ${availableParallelism()} cores`;
    say(`object-storage benchmark (SQLite, fsync on, data in ${dir}; ${load()})`);
    const fmt = (n: number) => n.toFixed(n < 10 ? 2 : 0);
    for (const api of ['swift', 's3'] as const) {
      const r = await smallOps(t, api, `${api}-small`, count);
      say(
        `${api.padEnd(5)} 4 KiB PUT: ${fmt(r.put.perSecond)} obj/s (p50 ${r.put.p50.toFixed(1)} ms, p99 ${r.put.p99.toFixed(1)} ms) x${count}, concurrency ${CONCURRENCY}; CPU per request: service ${r.put.serverMsPerOp.toFixed(2)} ms, bench client ${r.put.clientMsPerOp.toFixed(2)} ms`,
      );
      say(
        `${api.padEnd(5)} 4 KiB GET: ${fmt(r.get.perSecond)} obj/s (p50 ${r.get.p50.toFixed(1)} ms, p99 ${r.get.p99.toFixed(1)} ms); CPU per request: service ${r.get.serverMsPerOp.toFixed(2)} ms, bench client ${r.get.clientMsPerOp.toFixed(2)} ms`,
      );
    }
    const raw = await rawDisk(dir, big);
    const cached = await dropCaches();
    say(
      `raw disk ${big / MiB} MiB: write+fsync ${fmt(raw.write)} MB/s (1 MiB writes with one fsync at the end: ${fmt(raw.writePlain)}; with a background fdatasync every ${EARLY_SYNC_BYTES / MiB} MiB as the service writes: ${fmt(raw.writeOverlapped)}), read ${fmt(raw.read)} MB/s (${cached ? 'page cache dropped before reads' : 'page cache NOT dropped: reads may be cached'}; large transfers: median of ${REPEAT})`,
    );
    const md5 = md5Rate(big);
    const bare = await bareCeilings(raw.path, big);
    await rm(raw.path);
    say(
      `bench client ceiling (bare node server, same client): GET of the same file ${fmt(bare.get)} MB/s (${((100 * bare.get) / raw.read).toFixed(0)}% of raw read); PUT received and dropped ${fmt(bare.put)} MB/s, received and MD5-hashed on the event loop ${fmt(bare.putMd5)} MB/s`,
    );
    const putBound = Math.min(raw.write, md5, bare.put);
    const binding = putBound === raw.write ? 'the disk' : putBound === md5 ? 'MD5' : 'the HTTP receive';
    say(
      `large PUT limits: raw write ${fmt(raw.write)} MB/s, MD5 on one core ${fmt(md5)} MB/s (every PUT's ETag is the MD5 of its body; one MD5 cannot be split over cores), HTTP receive ${fmt(bare.put)} MB/s: no PUT can exceed ${fmt(putBound)} MB/s here (${binding}; ${((100 * putBound) / raw.write).toFixed(0)}% of raw write)`,
    );
    for (const api of ['swift', 's3'] as const) {
      const r = await bigObject(t, api, `${api}-big`, big);
      say(
        `${api.padEnd(5)} ${big / MiB} MiB PUT: ${fmt(r.put)} MB/s (${((100 * r.put) / raw.write).toFixed(0)}% of raw write, ${((100 * r.put) / putBound).toFixed(0)}% of the PUT limit; CPU cores busy: service ${r.putServerCores.toFixed(2)}, bench client ${r.putClientCores.toFixed(2)}), GET: ${fmt(r.get)} MB/s (${((100 * r.get) / raw.read).toFixed(0)}% of raw read)`,
      );
    }
    // listing: 10,000 objects, pages of 1,000
    const names = Array.from({ length: 10_000 }, (_, i) => `item-${String(i).padStart(6, '0')}`);
    let next = 0;
    const tiny = Buffer.from('x');
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < names.length)
          expectStatus(await call(t, 'swift', 'PUT', 'listing', names[next++]!, tiny, 1), 201);
      }),
    );
    let marker = '';
    let listed = 0;
    const l0 = performance.now();
    for (;;) {
      const page = await new Promise<string>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port,
            path: `/v1/AUTH_${BENCH_PROJECT}/listing?format=json&limit=1000&marker=${encodeURIComponent(marker)}`,
            headers: { 'x-auth-token': token },
            agent: t.agent,
          },
          (res) => {
            const parts: Buffer[] = [];
            res.on('data', (c: Buffer) => parts.push(c));
            res.on('end', () => resolve(Buffer.concat(parts).toString()));
          },
        );
        req.on('error', reject);
        req.end();
      });
      const items = JSON.parse(page) as { name: string }[];
      listed += items.length;
      if (items.length < 1000) break;
      marker = items[items.length - 1]!.name;
    }
    say(`listing ${listed} objects in pages of 1,000: ${((performance.now() - l0) / 1000).toFixed(3)} s`);
    // 2 GiB through the service, sampling its RSS
    const huge = Number(process.env.BENCH_HUGE_MIB ?? 2048) * MiB;
    let peak = 0;
    const sampler = setInterval(() => {
      void rss(child.pid!).then(
        (r) => (peak = Math.max(peak, r.rssMiB)),
        () => undefined,
      );
    }, 20);
    const h0 = performance.now();
    expectStatus(
      await call(t, 'swift', 'PUT', 'huge', 'two-gib', repeated(huge, randomBytes(MiB)), huge),
      201,
    );
    const hugeGet = await getLarge(t, 'swift', 'huge', 'two-gib');
    expectStatus(hugeGet, 200);
    clearInterval(sampler);
    if (hugeGet.bytes !== huge) throw new Error('short 2 GiB read');
    const after = await rss(child.pid!);
    say(
      `${huge / MiB} MiB PUT+GET in ${((performance.now() - h0) / 1000).toFixed(1)} s: peak RSS while streaming ${peak.toFixed(0)} MiB (process high-water mark ${after.hwmMiB.toFixed(0)} MiB)`,
    );
    say(`end of run: ${load()}`);
    t.agent.destroy();
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
