/** Starts the object-storage service in-process on port 0 with a temporary DATA_DIR. */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TokenService, parseSigningKeys } from '@strato/auth';
import { MemoryCache } from '@strato/cache';
import { createLogger } from '@strato/log';
import { StaticCredentialResolver } from '../../src/auth/credentials';
import { createObjectStorageService, type ObjectStorageService } from '../../src/app';
import { loadObjectStorageConfig } from '../../src/config';

export const SIGNING_KEYS = 'k1:integration-test-signing-key-0123456789abcdef';
export const ACCESS_KEY = 'AKIAINTEGRATIONTEST1';
export const SECRET_KEY = 'integration/secret/key/0123456789abcdefghij';
export const PROJECT = 'p1project';
export const OTHER_PROJECT = 'p2project';

export const run = promisify(execFile);

export interface Harness {
  service: ObjectStorageService;
  dir: string;
  port: number;
  base: string;
  storageUrl: string;
  token: string;
  tokenFor(project: string, roles?: string[]): string;
  stop(): Promise<void>;
}

export async function startObjectStorage(env: Record<string, string> = {}): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'os-int-'));
  const config = loadObjectStorageConfig({
    DATA_DIR: dir,
    TOKEN_SIGNING_KEYS: SIGNING_KEYS,
    OBJECT_STORE_PORT: '0',
    LOG_LEVEL: 'silent',
    S3_MIN_PART_SIZE: String(5 * 1024 * 1024),
    ...env,
  });
  const service = await createObjectStorageService(config, {
    log: createLogger('object-storage', { level: 'silent' }),
    credentials: new StaticCredentialResolver([
      { accessKey: ACCESS_KEY, secret: SECRET_KEY, userId: 'u1', projectId: PROJECT, roles: ['member'] },
    ]),
  });
  await service.start();
  const port = service.port();
  const tokens = new TokenService({
    keys: parseSigningKeys(SIGNING_KEYS),
    cache: new MemoryCache(),
    ttlSeconds: 3600,
  });
  const tokenFor = (project: string, roles = ['member']) =>
    tokens.issue({
      userId: 'u1',
      userName: 'alice',
      userDomainId: 'default',
      userDomainName: 'Default',
      project: { id: project, name: project, domainId: 'default', domainName: 'Default' },
      roles: roles.map((r) => ({ id: r, name: r })),
      methods: ['password'],
    }).token;
  return {
    service,
    dir,
    port,
    base: `http://127.0.0.1:${port}`,
    storageUrl: `http://127.0.0.1:${port}/v1/AUTH_${PROJECT}`,
    token: tokenFor(PROJECT),
    tokenFor,
    async stop() {
      await service.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
