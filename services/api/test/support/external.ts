/**
 * What the acceptance test needs from outside the process: a free port, a throwaway
 * PostgreSQL database, and the real openstack CLI. URLs of the shared test servers can be
 * overridden by environment (the usual CI services on 127.0.0.1 otherwise).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { promisify } from 'node:util';
import { Client } from 'pg';

const execFileAsync = promisify(execFile);

export const POSTGRES_URL = process.env.DATABASE_TEST_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.REDIS_URL_TEST ?? 'redis://127.0.0.1:6379';
export const AMQP_URL = process.env.AMQP_URL_TEST ?? 'amqp://guest:guest@127.0.0.1:5672';

/** A port nothing listens on right now (the OS picks it). */
export function unusedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

async function withAdminClient<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A fresh database beside the test one; `drop` removes it (and any open sessions). */
export async function scratchDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `strato_test_${randomBytes(5).toString('hex')}`;
  await withAdminClient((c) => c.query(`CREATE DATABASE "${name}"`));
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      await withAdminClient((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}

/** Runs the openstack CLI with exactly these OS_* variables; `-f json` output comes back parsed. */
export async function runOpenstack(args: string[], osEnv: Record<string, string>): Promise<unknown> {
  const home = process.env.HOME ?? '/tmp';
  const { stdout } = await execFileAsync('openstack', args, {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8', ...osEnv },
    timeout: 60_000,
  });
  const out = stdout.trim();
  return out === '' ? null : (JSON.parse(out) as unknown);
}

export function adminOsEnv(authUrl: string, password: string): Record<string, string> {
  return {
    OS_AUTH_URL: authUrl,
    OS_USERNAME: 'admin',
    OS_PASSWORD: password,
    OS_PROJECT_NAME: 'admin',
    OS_USER_DOMAIN_NAME: 'Default',
    OS_PROJECT_DOMAIN_NAME: 'Default',
    OS_IDENTITY_API_VERSION: '3',
    OS_INTERFACE: 'public',
  };
}
