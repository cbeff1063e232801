/**
 * Test support for whole-stack tests: a throwaway PostgreSQL database, service processes
 * started with `tsx` and waited for on /readyz, and the real OpenStack CLI.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { ENTRIES, NODE_FLAGS } from '../../deploy/build';

const run = promisify(execFile);
export const ROOT = join(__dirname, '..', '..');
export const DATABASE_TEST_URL = process.env.DATABASE_TEST_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const AMQP_TEST_URL = process.env.AMQP_URL_TEST ?? 'amqp://guest:guest@127.0.0.1:5672';
export const REDIS_TEST_URL = process.env.REDIS_URL_TEST ?? 'redis://127.0.0.1:6379';

export function randomSigningKeys(): string {
  return `k1:${randomBytes(32).toString('base64url')}`;
}

/** Creates an empty database next to the test one; drop() removes it. */
export async function tempDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `strato_${randomBytes(6).toString('hex')}`;
  const admin = new Client({ connectionString: DATABASE_TEST_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(DATABASE_TEST_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new Client({ connectionString: DATABASE_TEST_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

export interface ServiceProcess {
  name: string;
  child: ChildProcess;
  output(): string;
  /** SIGTERM, then waits for the exit code. */
  stop(): Promise<number | null>;
}

/**
 * With STRATO_RUN_COMPILED=1 (benchmarks), services run as a deployment runs them: the
 * compiled dist/<name>.js of `npm run build`, without a TypeScript loader.
 */
function compiledArgs(script: string): string[] | null {
  if (process.env.STRATO_RUN_COMPILED !== '1') return null;
  const name = Object.entries(ENTRIES).find(([, src]) => src === script)?.[0];
  return name ? [...NODE_FLAGS, join(ROOT, 'dist', `${name}.js`)] : null;
}

/** Services started in their own session, stopped when this process ends or is interrupted. */
const sessionLeaders = new Set<ChildProcess>();
/** What an interrupted run undoes before it exits (a stack's stop: its processes, its database). */
const interruptCleanups = new Set<() => Promise<unknown>>();
let handlesInterrupts = false;
/** How long an interrupted run waits for its cleanups before it exits anyway. */
const INTERRUPT_CLEANUP_MS = 15_000;

/**
 * Stopping on ^C or SIGTERM, for runs whose services lead their own sessions (see ownSession):
 * the registered cleanups run (stopping each stack and dropping its database), then this
 * process exits, and its exit handler signals any service still running. A second ^C exits
 * at once, and so still signals them (the services lead their own sessions: a terminal's ^C
 * does not reach them).
 */
function handleInterrupts(): void {
  if (handlesInterrupts) return;
  handlesInterrupts = true;
  process.once('exit', () => sessionLeaders.forEach((c) => c.kill('SIGTERM')));
  let interrupted = false;
  const onSignal = () => {
    // A second signal exits at once; exiting still signals every service (the handler above).
    if (interrupted) process.exit(130);
    interrupted = true;
    const cleaned = Promise.allSettled(
      [...interruptCleanups].map((cleanup) => Promise.resolve().then(cleanup)),
    );
    const waited = new Promise((resolve) => setTimeout(resolve, INTERRUPT_CLEANUP_MS).unref());
    void Promise.race([cleaned, waited]).finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/**
 * Runs `cleanup` if this run is interrupted while services run as deployed (STRATO_RUN_COMPILED=1);
 * returns the function that unregisters it. Under jest nothing is registered: the runner
 * handles its own signals.
 */
export function cleanupOnInterrupt(cleanup: () => Promise<unknown>): () => void {
  if (process.env.STRATO_RUN_COMPILED !== '1') return () => undefined;
  handleInterrupts();
  interruptCleanups.add(cleanup);
  return () => interruptCleanups.delete(cleanup);
}

/**
 * A service run as deployed leads its own session, as systemd and container runtimes start
 * them: each is then its own autogroup in the kernel's scheduler, and a worker's PROCESS_NICE
 * ranks the whole worker below the api, not only among the processes of a shared session
 * (started from this process's session, the api, the workers and this process would all
 * be one group, sharing one group's CPU against each PostgreSQL backend). A terminal's ^C no
 * longer reaches such a child, so this process stops them itself when it ends.
 */
function ownSession(child: ChildProcess): void {
  handleInterrupts();
  sessionLeaders.add(child);
  child.once('exit', () => sessionLeaders.delete(child));
}

/** Starts `tsx <script>` with env and resolves once GET readyUrl answers 200. */
export async function startProcess(
  name: string,
  script: string,
  env: Record<string, string>,
  readyUrl: string,
  timeoutMs = 60_000,
): Promise<ServiceProcess> {
  // node --import tsx, not the tsx CLI: the pid is the service itself (signals, RSS).
  const compiled = compiledArgs(script);
  const deployed = compiled !== null;
  const args = compiled ?? ['--import', 'tsx', join(ROOT, script)];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // As deployed, each service leads its own session (see ownSession).
    detached: deployed,
  });
  if (deployed) ownSession(child);
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const proc: ServiceProcess = {
    name,
    child,
    output: () => out,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}:\n${out}`);
    try {
      const res = await fetch(readyUrl);
      if (res.status === 200) return proc;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  await proc.stop();
  throw new Error(`${name} not ready at ${readyUrl} within ${timeoutMs} ms:\n${out}`);
}

/** Runs a tsx script to completion (e.g. the bootstrap command). */
export async function runScript(script: string, env: Record<string, string>): Promise<string> {
  const { stdout } = await run(
    process.execPath,
    [join(ROOT, 'node_modules/tsx/dist/cli.mjs'), join(ROOT, script)],
    {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'warn', ...env },
      timeout: 60_000,
    },
  );
  return stdout;
}

/** The real openstack CLI; pass `-f json` to get parsed output (null when it prints nothing). */
export async function openstack(
  args: string[],
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<unknown> {
  const { stdout } = await run('openstack', args, {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    timeout: timeoutMs,
  });
  const text = stdout.trim();
  return text ? (JSON.parse(text) as unknown) : null;
}

export function adminEnv(authUrl: string, password: string): Record<string, string> {
  return {
    OS_AUTH_URL: authUrl,
    OS_IDENTITY_API_VERSION: '3',
    OS_USERNAME: 'admin',
    OS_PASSWORD: password,
    OS_PROJECT_NAME: 'admin',
    OS_USER_DOMAIN_NAME: 'Default',
    OS_PROJECT_DOMAIN_NAME: 'Default',
    OS_INTERFACE: 'public',
  };
}

/**
 * Environment for `npm start` (deploy/all-in-one.ts) on free ports, with the catalog and the
 * image service's object-store URL pointing at them, so runs never collide.
 */
export async function allInOneEnv(dataDir: string): Promise<Record<string, string>> {
  const [identity, compute, image, objects] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  const base = 'http://127.0.0.1';
  return {
    DATA_DIR: dataDir,
    IDENTITY_PORT: String(identity),
    COMPUTE_PORT: String(compute),
    IMAGE_PORT: String(image),
    OBJECT_STORE_PORT: String(objects),
    SCHEDULER_PORT: '0',
    COMPUTE_AGENT_PORT: '0',
    IDENTITY_PUBLIC_URL: `${base}:${identity}/v3/`,
    COMPUTE_PUBLIC_URL: `${base}:${compute}/v2.1`,
    IMAGE_PUBLIC_URL: `${base}:${image}`,
    OBJECT_STORE_PUBLIC_URL: `${base}:${objects}/v1/AUTH_%(project_id)s`,
    OBJECT_STORE_URL: `${base}:${objects}/v1`,
  };
}
