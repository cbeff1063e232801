/**
 * kill -9 during a stream of uploads: every upload that was acknowledged (201) is readable
 * afterwards with its checksum, and nothing partial is listed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TokenService, parseSigningKeys } from '@strato/auth';
import { MemoryCache } from '@strato/cache';
import { PROJECT, SIGNING_KEYS } from './harness';

jest.setTimeout(120_000);

const ROOT = join(__dirname, '..', '..', '..', '..');
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

async function waitHealthy(base: string, child: ChildProcess): Promise<void> {
  for (;;) {
    if (child.exitCode !== null) throw new Error(`object-storage exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${base}/healthz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('object-storage killed with -9 during uploads', () => {
  let dir: string;
  let child: ChildProcess | null = null;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'os-crash-'));
  });
  afterAll(async () => {
    if (child && child.exitCode === null && !child.signalCode) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  });

  async function startProcess(port: number): Promise<ChildProcess> {
    // node itself with the tsx loader (not the tsx wrapper), so the kill reaches the service.
    const proc = spawn(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'services/object-storage/src/main.ts')],
      {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH,
          DATA_DIR: dir,
          TOKEN_SIGNING_KEYS: SIGNING_KEYS,
          OBJECT_STORE_PORT: String(port),
          LOG_LEVEL: 'warn',
        },
        stdio: 'ignore',
      },
    );
    await waitHealthy(`http://127.0.0.1:${port}`, proc);
    return proc;
  }

  it('keeps every acknowledged upload and lists nothing partial', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}/v1/AUTH_${PROJECT}`;
    const token = new TokenService({
      keys: parseSigningKeys(SIGNING_KEYS),
      cache: new MemoryCache(),
      ttlSeconds: 600,
    }).issue({
      userId: 'u1',
      userName: 'alice',
      userDomainId: 'default',
      userDomainName: 'Default',
      project: { id: PROJECT, name: PROJECT, domainId: 'default', domainName: 'Default' },
      roles: [{ id: 'member', name: 'member' }],
      methods: ['password'],
    }).token;
    const headers = { 'x-auth-token': token };

    child = await startProcess(port);
    expect((await fetch(`${base}/c`, { method: 'PUT', headers })).status).toBe(201);

    const bodies = new Map<string, Buffer>();
    const acked = new Set<string>();
    let killed = false;
    let seq = 0;
    const KILL_AFTER = 60;

    async function upload(worker: number): Promise<void> {
      while (!killed) {
        const name = `w${worker}/obj-${seq++}`;
        const size = 1 + Math.floor(Math.random() * 600_000);
        const body = randomBytes(size);
        bodies.set(name, body);
        // Stream slowly in pieces so that some uploads are mid-body when the process dies.
        const stream = new ReadableStream<Uint8Array>({
          async start(controller) {
            for (let off = 0; off < body.length; off += 65536) {
              controller.enqueue(body.subarray(off, off + 65536));
              await new Promise((r) => setTimeout(r, 2));
            }
            controller.close();
          },
        });
        try {
          const res = await fetch(`${base}/c/${name}`, {
            method: 'PUT',
            headers: { ...headers, etag: md5(body) },
            body: stream,
            duplex: 'half',
          });
          if (res.status === 201) {
            acked.add(name);
            if (acked.size === KILL_AFTER && !killed) {
              killed = true;
              child!.kill('SIGKILL');
            }
          }
        } catch {
          // the process died under this upload
        }
      }
    }

    await Promise.all(Array.from({ length: 8 }, (_, w) => upload(w)));
    await new Promise<void>((resolve) =>
      child!.exitCode !== null || child!.signalCode ? resolve() : child!.once('exit', () => resolve()),
    );
    expect(acked.size).toBeGreaterThanOrEqual(KILL_AFTER);

    child = await startProcess(port);
    const listing = (await (await fetch(`${base}/c?format=json`, { headers })).json()) as {
      name: string;
      hash: string;
      bytes: number;
    }[];
    const listed = new Map(listing.map((o) => [o.name, o]));
    for (const name of acked) {
      const res = await fetch(`${base}/c/${name}`, { headers });
      expect(res.status).toBe(200);
      expect(md5(Buffer.from(await res.arrayBuffer()))).toBe(md5(bodies.get(name)!));
      expect(listed.has(name)).toBe(true);
    }
    for (const o of listing) {
      const sent = bodies.get(o.name)!;
      expect(o.bytes).toBe(sent.length);
      expect(o.hash).toBe(md5(sent));
    }
    const head = await fetch(`${base}/c`, { method: 'HEAD', headers });
    expect(Number(head.headers.get('x-container-object-count'))).toBe(listing.length);
    expect(await readdir(join(dir, 'objects', 'tmp'))).toEqual([]);
  });
});
