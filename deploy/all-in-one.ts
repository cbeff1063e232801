/**
 * The embedded default: `npm start` runs the whole cloud in this one process with SQLite
 * under ./data, an in-memory bus and cache, and a bootstrapped admin whose OS_* variables are
 * printed for the openstack CLI. With DATABASE_URL / AMQP_URL / REDIS_URL set, the same
 * services use them instead (run them as separate processes with `npm run start:<service>`).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { exitOnConfigError } from '@strato/config';
import { stopOnSignals } from '@strato/http';
import { createLogger } from '@strato/log';
import { createSharedInfra, type Service } from '@strato/runtime';
import { createApiService } from '../services/api/src/app';
import { loadApiConfig } from '../services/api/src/config';
import { bootstrapIdentity } from '../services/api/src/identity';

function secretFile(path: string, make: () => string): string {
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  const value = make();
  writeFileSync(path, `${value}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return value;
}

async function main(): Promise<void> {
  const dataDir = resolve(process.env.DATA_DIR ?? './data');
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const env: Record<string, string | undefined> = { ...process.env, DATA_DIR: dataDir };
  env.TOKEN_SIGNING_KEYS ??= secretFile(
    join(dataDir, 'signing-keys'),
    () => `k${Date.now().toString(36)}:${randomBytes(32).toString('base64url')}`,
  );
  env.ADMIN_PASSWORD ??= secretFile(join(dataDir, 'admin-password'), () =>
    randomBytes(12).toString('base64url'),
  );

  const config = (() => {
    try {
      return loadApiConfig(env);
    } catch (err) {
      return exitOnConfigError(err);
    }
  })();
  const log = createLogger('all-in-one', { level: config.LOG_LEVEL });
  const shared = createSharedInfra();

  const api = await createApiService(config, { log: log.child({ component: 'api' }), shared });
  const boot = await bootstrapIdentity(api.identity, {
    adminUser: config.ADMIN_USER,
    adminProject: config.ADMIN_PROJECT,
    adminPassword: config.ADMIN_PASSWORD!,
    region: config.REGION,
  });
  const services: Service[] = [api];
  for (const s of services) await s.start();

  const authUrl = config.IDENTITY_PUBLIC_URL;
  const openrc = [
    `export OS_AUTH_URL=${authUrl}`,
    `export OS_IDENTITY_API_VERSION=3`,
    `export OS_USERNAME=${config.ADMIN_USER}`,
    `export OS_PASSWORD=${config.ADMIN_PASSWORD}`,
    `export OS_PROJECT_NAME=${config.ADMIN_PROJECT}`,
    `export OS_USER_DOMAIN_NAME=Default`,
    `export OS_PROJECT_DOMAIN_NAME=Default`,
    `export OS_REGION_NAME=${config.REGION}`,
    `export OS_INTERFACE=public`,
  ].join('\n');
  writeFileSync(join(dataDir, 'admin-openrc'), `${openrc}\n`, { mode: 0o600 });
  log.info({ bootstrap: boot, services: services.map((s) => s.name) }, 'strato is running');
  process.stdout.write(
    `\nStrato is running. For the openstack CLI (also saved in ${join(dataDir, 'admin-openrc')}):\n\n${openrc}\n\n`,
  );

  stopOnSignals(
    {
      async stop() {
        for (const s of [...services].reverse()) await s.stop();
      },
    },
    log,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`strato failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
