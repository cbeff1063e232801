/**
 * npm run bench:identity — token issue and validation throughput and latency, all-in-one and
 * multi-process (PostgreSQL, RabbitMQ, Redis), beside this machine's own ceilings: an empty
 * Node.js HTTP server under the same load, and scrypt password checks per second.
 */
import { scrypt } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  AMQP_TEST_URL,
  allInOneEnv,
  REDIS_TEST_URL,
  freePort,
  randomSigningKeys,
  runScript,
  startProcess,
  tempDatabase,
  type ServiceProcess,
} from '../../test/support/stack';
import { bareHttpBaseline, fmt, load, rssMiB } from './lib';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ISSUE_CONCURRENCY = 8;
const VALIDATE_CONCURRENCY = 16;

function passwordBody(password: string): string {
  return JSON.stringify({
    auth: {
      identity: {
        methods: ['password'],
        password: { user: { name: 'admin', domain: { name: 'Default' }, password } },
      },
      scope: { project: { name: 'admin', domain: { name: 'Default' } } },
    },
  });
}

async function issueToken(port: number, password: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/v3/auth/tokens?nocatalog`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: passwordBody(password),
  });
  const token = res.headers.get('x-subject-token');
  if (res.status !== 201 || !token) throw new Error(`token issue failed: ${res.status} ${await res.text()}`);
  return token;
}

async function measure(label: string, proc: ServiceProcess, port: number, password: string): Promise<void> {
  const body = passwordBody(password);
  const issue = await load(
    port,
    () => ({
      method: 'POST',
      path: '/v3/auth/tokens',
      headers: { 'content-type': 'application/json' },
      body,
      expect: 201,
    }),
    { concurrency: ISSUE_CONCURRENCY, seconds: SECONDS },
  );
  const token = await issueToken(port, password);
  const exchange = await load(
    port,
    () => ({
      method: 'POST',
      path: '/v3/auth/tokens',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ auth: { identity: { methods: ['token'], token: { id: token } } } }),
      expect: 201,
    }),
    { concurrency: ISSUE_CONCURRENCY, seconds: SECONDS },
  );
  const validate = await load(
    port,
    () => ({
      method: 'GET',
      path: '/v3/auth/tokens',
      headers: { 'x-auth-token': token, 'x-subject-token': token },
      expect: 200,
    }),
    { concurrency: VALIDATE_CONCURRENCY, seconds: SECONDS },
  );
  console.log(`\n${label}  (api RSS ${rssMiB(proc.child.pid!).toFixed(0)} MiB)`);
  console.log(`  token issue, password (c=${ISSUE_CONCURRENCY})  ${fmt(issue)}`);
  console.log(`  token issue, token    (c=${ISSUE_CONCURRENCY})  ${fmt(exchange)}`);
  console.log(`  token validation      (c=${VALIDATE_CONCURRENCY}) ${fmt(validate)}`);
}

async function scryptPerSecond(): Promise<number> {
  const hash = promisify(scrypt) as (p: string, s: string, n: number, o: object) => Promise<Buffer>;
  const until = Date.now() + 3000;
  let count = 0;
  const worker = async () => {
    while (Date.now() < until) {
      await hash('password', 'salt-salt-salt-s', 32, { N: 32768, r: 8, p: 1, maxmem: 128 * 32768 * 8 * 2 });
      count++;
    }
  };
  const t0 = Date.now();
  await Promise.all(Array.from({ length: 4 }, worker));
  return count / ((Date.now() - t0) / 1000);
}

async function allInOne(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'strato-bench-'));
  const env = await allInOneEnv(dataDir);
  const port = Number(env.IDENTITY_PORT);
  const proc = await startProcess(
    'all-in-one',
    'deploy/all-in-one.ts',
    env,
    `http://127.0.0.1:${port}/readyz`,
  );
  try {
    const password = readFileSync(join(dataDir, 'admin-password'), 'utf8').trim();
    await measure('all-in-one (SQLite, in-memory bus and cache)', proc, port, password);
  } finally {
    await proc.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function multiProcess(): Promise<void> {
  const db = await tempDatabase();
  const port = await freePort();
  const env = {
    DATABASE_URL: db.url,
    AMQP_URL: AMQP_TEST_URL,
    REDIS_URL: REDIS_TEST_URL,
    TOKEN_SIGNING_KEYS: randomSigningKeys(),
    IDENTITY_PORT: String(port),
    IDENTITY_PUBLIC_URL: `http://127.0.0.1:${port}/v3/`,
    COMPUTE_PORT: '0',
    ADMIN_PASSWORD: 'bench-password',
  };
  await runScript('services/api/src/bootstrap.ts', env);
  const proc = await startProcess('api', 'services/api/src/main.ts', env, `http://127.0.0.1:${port}/readyz`);
  try {
    await measure('multi-process (api on PostgreSQL, RabbitMQ, Redis)', proc, port, env.ADMIN_PASSWORD);
  } finally {
    await proc.stop();
    await db.drop();
  }
}

async function main(): Promise<void> {
  console.log(
    `bench:identity on ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), ${SECONDS} s per figure`,
  );
  const bare = await bareHttpBaseline({ concurrency: VALIDATE_CONCURRENCY, seconds: SECONDS });
  const scryptRate = await scryptPerSecond();
  console.log("\nthis machine's own limits");
  console.log(`  empty Node.js HTTP server  (c=${VALIDATE_CONCURRENCY}) ${fmt(bare)}`);
  console.log(
    `  scrypt N=2^15 password checks, 4 threads: ${scryptRate.toFixed(0)} /s (bounds password token issue)`,
  );
  await allInOne();
  await multiProcess();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
