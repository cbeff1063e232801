/**
 * Starts the image service on port 0 with SQLite in a temp directory, its data going to a
 * Swift stub over HTTP, and mints project tokens with the same signing keys.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TokenService, parseSigningKeys } from '@strato/auth';
import { MemoryCache } from '@strato/cache';
import { createLogger } from '@strato/log';
import { createSharedInfra } from '@strato/runtime';
import { createImageService, type ImageServiceApp } from '../../src/app';
import { loadImageConfig } from '../../src/config';
import { startSwiftStub, type SwiftStub } from './swift-stub';

export const SIGNING_KEYS = 'k1:0123456789abcdef0123456789abcdef0123';

export interface Harness {
  base: string;
  service: ImageServiceApp;
  /** The stub, when the harness runs on it (not on the real object-storage process). */
  swift: SwiftStub | null;
  /** The Swift endpoint image data goes to (…/v1). */
  objectStoreUrl: string;
  dir: string;
  token(projectId: string, options?: { admin?: boolean }): string;
  close(): Promise<void>;
}

const ROOT = join(__dirname, '../../../..');

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/**
 * Runs services/object-storage as its own process (as in a multi-process deployment), and
 * waits until it answers /healthz.
 */
async function startObjectStorage(
  dir: string,
): Promise<{ url: string; process: ChildProcess; output: () => string }> {
  const port = await freePort();
  let output = '';
  const child = spawn(join(ROOT, 'node_modules/.bin/tsx'), ['services/object-storage/src/main.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      OBJECT_STORE_PORT: String(port),
      DATA_DIR: join(dir, 'object-storage'),
      TOKEN_SIGNING_KEYS: SIGNING_KEYS,
      FSYNC: 'false',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`object-storage exited (${code}): ${output}`))),
  );
  exited.catch(() => undefined);
  for (;;) {
    const up = await Promise.race([
      fetch(`http://127.0.0.1:${port}/healthz`).then(
        (r) => r.ok,
        () => false,
      ),
      exited,
    ]);
    if (up) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url: `http://127.0.0.1:${port}/v1`, process: child, output: () => output };
}

export async function startHarness(options: { objectStorage?: 'stub' | 'process' } = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'image-it-'));
  const shared = createSharedInfra();
  const tokens = new TokenService({
    keys: parseSigningKeys(SIGNING_KEYS),
    cache: shared.cache,
    ttlSeconds: 3600,
  });
  let swift: SwiftStub | null = null;
  let objectStorage: Awaited<ReturnType<typeof startObjectStorage>> | null = null;
  let objectStoreUrl: string;
  if (options.objectStorage === 'process') {
    objectStorage = await startObjectStorage(dir);
    objectStoreUrl = objectStorage.url;
  } else {
    swift = await startSwiftStub(tokens, join(dir, 'swift'));
    objectStoreUrl = swift.url;
  }
  const config = loadImageConfig({
    IMAGE_PORT: '0',
    DATA_DIR: join(dir, 'data'),
    TOKEN_SIGNING_KEYS: SIGNING_KEYS,
    OBJECT_STORE_URL: objectStoreUrl,
    IMAGE_SERVICE_PROJECT_ID: 'svc',
    LOG_LEVEL: 'silent',
  });
  const service = await createImageService(config, {
    log: createLogger('image', { level: 'silent' }),
    shared,
  });
  await service.start();
  return {
    base: `http://127.0.0.1:${service.port()}`,
    service,
    swift,
    objectStoreUrl,
    dir,
    token(projectId, options = {}) {
      return tokens.issue({
        userId: `user-${projectId}`,
        userName: `user-${projectId}`,
        userDomainId: 'default',
        userDomainName: 'Default',
        project: { id: projectId, name: projectId, domainId: 'default', domainName: 'Default' },
        roles: options.admin
          ? [
              { id: 'r-admin', name: 'admin' },
              { id: 'r-member', name: 'member' },
            ]
          : [{ id: 'r-member', name: 'member' }],
        methods: ['password'],
      }).token;
    },
    async close() {
      await service.stop();
      await swift?.close();
      if (objectStorage) {
        const exited = new Promise((resolve) => objectStorage.process.once('exit', resolve));
        objectStorage.process.kill('SIGTERM');
        await exited;
      }
      await (shared.cache as MemoryCache).close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
