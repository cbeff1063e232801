/** api process entry: configuration, composition, start, signals. Nothing else. */
import { exitOnConfigError } from '@strato/config';
import { stopOnSignals } from '@strato/http';
import { createLogger } from '@strato/log';
import { createApiService } from './app';
import { loadApiConfig } from './config';

async function main(): Promise<void> {
  const config = (() => {
    try {
      return loadApiConfig();
    } catch (err) {
      return exitOnConfigError(err);
    }
  })();
  const log = createLogger('api', { level: config.LOG_LEVEL });
  const service = await createApiService(config, { log });
  await service.start();
  stopOnSignals(service, log);
}

main().catch((err: unknown) => {
  process.stderr.write(`api failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
