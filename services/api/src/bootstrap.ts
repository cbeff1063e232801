/**
 * `npm run bootstrap`, like `keystone-manage bootstrap`: against the configured database,
 * creates (or repairs) the admin user, project and roles and the service catalog, and prints
 * what it did. ADMIN_PASSWORD is required. Safe to run again.
 */
import { ConfigError, exitOnConfigError } from '@strato/config';
import { createLogger } from '@strato/log';
import { createApiService } from './app';
import { loadApiConfig } from './config';
import { bootstrapIdentity } from './identity';

async function main(): Promise<void> {
  const config = (() => {
    try {
      const loaded = loadApiConfig();
      if (!loaded.ADMIN_PASSWORD)
        throw new ConfigError(["ADMIN_PASSWORD is required (the admin user's password)"]);
      return loaded;
    } catch (err) {
      return exitOnConfigError(err);
    }
  })();
  const log = createLogger('api-bootstrap', { level: config.LOG_LEVEL });
  const service = await createApiService(config, { log });
  try {
    const report = await bootstrapIdentity(service.identity, {
      adminUser: config.ADMIN_USER,
      adminProject: config.ADMIN_PROJECT,
      adminPassword: config.ADMIN_PASSWORD!,
      region: config.REGION,
    });
    const lines = report.created.length > 0 ? report.created.map((c) => `  + ${c}`) : ['  nothing to do'];
    process.stdout.write(
      [
        `bootstrap: admin user ${config.ADMIN_USER} (${report.adminUserId}), project ${config.ADMIN_PROJECT} (${report.adminProjectId})`,
        ...lines,
        '',
      ].join('\n'),
    );
  } finally {
    await service.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bootstrap failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
