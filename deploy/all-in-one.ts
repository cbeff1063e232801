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
import { LibvirtConnection } from '@strato/libvirt';
import { createApiService } from '../services/api/src/app';
import { loadApiConfig } from '../services/api/src/config';
import { bootstrapIdentity } from '../services/api/src/identity';
import { createComputeAgentService } from '../services/compute-agent/src/app';
import { loadComputeAgentConfig } from '../services/compute-agent/src/config';
import { chooseVirtType, probeHostVirt } from '../services/compute-agent/src/driver/virt-type';
import { createImageService } from '../services/image/src/app';
import { loadImageConfig } from '../services/image/src/config';
import { createObjectStorageService } from '../services/object-storage/src/app';
import { loadObjectStorageConfig } from '../services/object-storage/src/config';
import { createSchedulerService } from '../services/scheduler/src/app';
import { loadSchedulerConfig } from '../services/scheduler/src/config';

/**
 * The best hypervisor available here: QEMU/KVM on qemu:///system when libvirtd answers and the
 * CPU really has hardware virtualisation (real guests); else libvirt's test hypervisor when the
 * libvirt library loads; else the built-in simulated one. Without vmx/svm, real guests would run
 * under TCG emulation, slow enough that an explicit LIBVIRT_URI=qemu:///system should ask for
 * it. An explicit HYPERVISOR_DRIVER / LIBVIRT_URI wins.
 */
async function chooseHypervisor(env: Record<string, string | undefined>): Promise<string> {
  if (env.HYPERVISOR_DRIVER || env.LIBVIRT_URI) return env.LIBVIRT_URI ?? env.HYPERVISOR_DRIVER!;
  const virt = chooseVirtType('auto', await probeHostVirt());
  if (virt.type === 'kvm' && (await opens('qemu:///system'))) {
    env.LIBVIRT_URI = 'qemu:///system';
    return 'QEMU/KVM on qemu:///system (real guests)';
  }
  if (await opens('test:///default')) {
    env.LIBVIRT_URI = 'test:///default';
    return `libvirt test:///default (libvirt's test hypervisor: real libvirt, no guests run; no real guests here: ${virt.reason})`;
  }
  env.HYPERVISOR_DRIVER = 'fake';
  return 'the built-in simulated hypervisor (libvirt is not installed)';
}

async function opens(uri: string): Promise<boolean> {
  try {
    const conn = await LibvirtConnection.open(uri);
    await conn.close();
    return true;
  } catch {
    return false;
  }
}

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

  env.HOST_NAME ??= 'allinone';
  // The compute agent downloads images (real guests) and uploads snapshots from the image
  // service in this process, with a token it mints from TOKEN_SIGNING_KEYS.
  env.IMAGE_URL ??= `http://127.0.0.1:${env.IMAGE_PORT ?? '9292'}`;
  const hypervisor = await chooseHypervisor(env);
  // QEMU runs as its own user: it must be able to pass through the data directory to reach the
  // guests' disks (the secrets in it stay 0600).
  if (env.LIBVIRT_URI?.startsWith('qemu:')) chmodSync(dataDir, 0o711);
  const configs = (() => {
    try {
      return {
        api: loadApiConfig(env),
        scheduler: loadSchedulerConfig(env),
        agent: loadComputeAgentConfig(env),
        image: loadImageConfig(env),
        objects: loadObjectStorageConfig(env),
      };
    } catch (err) {
      return exitOnConfigError(err);
    }
  })();
  const config = configs.api;
  const log = createLogger('all-in-one', { level: config.LOG_LEVEL });
  const shared = createSharedInfra();
  const child = (component: string) => log.child({ component });

  const api = await createApiService(config, { log: child('api'), shared });
  const boot = await bootstrapIdentity(api.identity, {
    adminUser: config.ADMIN_USER,
    adminProject: config.ADMIN_PROJECT,
    adminPassword: config.ADMIN_PASSWORD!,
    region: config.REGION,
  });
  const services: Service[] = [
    await createObjectStorageService(configs.objects, { log: child('object-storage'), shared }),
    await createImageService(configs.image, { log: child('image'), shared }),
    api,
    await createSchedulerService(configs.scheduler, { log: child('scheduler'), shared }),
    await createComputeAgentService(configs.agent, { log: child('compute-agent'), shared }),
  ];
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
  log.info({ bootstrap: boot, services: services.map((s) => s.name), hypervisor }, 'strato is running');
  process.stdout.write(
    `\nStrato is running (hypervisor: ${hypervisor}).\n` +
      `For the openstack CLI (also saved in ${join(dataDir, 'admin-openrc')}):\n\n${openrc}\n\n`,
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
