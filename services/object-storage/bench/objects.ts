/**
 * npm run bench:objects — what issue 3 asks to measure, in one run, against the service in
 * its own process (SQLite, fsync on, data under a temporary directory on the same disk):
 * 4 KiB PUT/GET objects/s at concurrency 16 with p50/p99 (Swift and S3), 256 MiB PUT/GET MB/s
 * (Swift and S3) beside the raw disk's sequential write (fsync) and read speed, the peak RSS
 * of the service while a 2 GiB object streams through it, and listing 10,000 objects in
 * pages of 1,000.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, request, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { TokenService, parseSigningKeys } from '@strato/auth';
import { MemoryCache } from '@strato/cache';
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
  const path =
    api === 'swift'
      ? `/v1/AUTH_${BENCH_PROJECT}/${container}${name ? `/${name}` : ''}`
      : `/${container}${name ? `/${name}` : ''}`;
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

function expectStatus(r: { status: number }, ...ok: number[]): void {
  if (!ok.includes(r.status)) throw new Error(`unexpected status ${r.status}`);
}

async function* repeated(total: number, chunk: Buffer): AsyncGenerator<Buffer> {
  for (let sent = 0; sent < total; sent += chunk.length)
    yield chunk.subarray(0, Math.min(chunk.length, total - sent));
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function smallOps(t: Target, api: Api, container: string, count: number) {
  const body = randomBytes(SMALL);
  const run = async (op: (i: number) => Promise<void>) => {
    const latencies: number[] = [];
    let next = 0;
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
    latencies.sort((a, b) => a - b);
    return { perSecond: count / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
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

async function rawDisk(dir: string, size: number): Promise<{ write: number; read: number }> {
  const path = join(dir, 'raw.bin');
  const chunk = randomBytes(MiB);
  const fh = await open(path, 'w');
  let t0 = performance.now();
  for (let off = 0; off < size; off += MiB) await fh.write(chunk);
  await fh.sync();
  await fh.close();
  const write = size / MiB / ((performance.now() - t0) / 1000);
  await dropCaches();
  const rh = await open(path, 'r');
  const buf = Buffer.allocUnsafe(MiB);
  t0 = performance.now();
  for (;;) {
    const { bytesRead } = await rh.read(buf, 0, MiB, null);
    if (bytesRead === 0) break;
  }
  const read = size / MiB / ((performance.now() - t0) / 1000);
  await rh.close();
  await rm(path);
  return { write, read };
}

async function bigObject(t: Target, api: Api, container: string, size: number) {
  const chunk = randomBytes(MiB);
  let t0 = performance.now();
  expectStatus(await call(t, api, 'PUT', container, 'big', repeated(size, chunk), size), 200, 201);
  const put = size / MiB / ((performance.now() - t0) / 1000);
  await dropCaches();
  t0 = performance.now();
  const got = await call(t, api, 'GET', container, 'big');
  if (got.bytes !== size) throw new Error(`GET returned ${got.bytes} bytes`);
  const get = size / MiB / ((performance.now() - t0) / 1000);
  return { put, get };
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
    execArgv: ['--import', 'tsx'],
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
    const t: Target = { port, token, agent: new Agent({ keepAlive: true, maxSockets: CONCURRENCY }) };
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
    say(`object-storage benchmark (SQLite, fsync on, data in ${dir})`);
    const fmt = (n: number) => n.toFixed(n < 10 ? 2 : 0);
    for (const api of ['swift', 's3'] as const) {
      const r = await smallOps(t, api, `${api}-small`, count);
      say(
        `${api.padEnd(5)} 4 KiB PUT: ${fmt(r.put.perSecond)} obj/s (p50 ${r.put.p50.toFixed(1)} ms, p99 ${r.put.p99.toFixed(1)} ms) x${count}, concurrency ${CONCURRENCY}`,
      );
      say(
        `${api.padEnd(5)} 4 KiB GET: ${fmt(r.get.perSecond)} obj/s (p50 ${r.get.p50.toFixed(1)} ms, p99 ${r.get.p99.toFixed(1)} ms)`,
      );
    }
    const raw = await rawDisk(dir, big);
    const cached = await dropCaches();
    say(
      `raw disk ${big / MiB} MiB: write+fsync ${fmt(raw.write)} MB/s, read ${fmt(raw.read)} MB/s (${cached ? 'page cache dropped before reads' : 'page cache NOT dropped: reads may be cached'})`,
    );
    for (const api of ['swift', 's3'] as const) {
      const r = await bigObject(t, api, `${api}-big`, big);
      say(
        `${api.padEnd(5)} ${big / MiB} MiB PUT: ${fmt(r.put)} MB/s (${((100 * r.put) / raw.write).toFixed(0)}% of raw write), GET: ${fmt(r.get)} MB/s (${((100 * r.get) / raw.read).toFixed(0)}% of raw read)`,
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
    const hugeGet = await call(t, 'swift', 'GET', 'huge', 'two-gib');
    clearInterval(sampler);
    if (hugeGet.bytes !== huge) throw new Error('short 2 GiB read');
    const after = await rss(child.pid!);
    say(
      `${huge / MiB} MiB PUT+GET in ${((performance.now() - h0) / 1000).toFixed(1)} s: peak RSS while streaming ${peak.toFixed(0)} MiB (process high-water mark ${after.hwmMiB.toFixed(0)} MiB)`,
    );
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
