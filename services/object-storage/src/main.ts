/** object-storage process entry: configuration, composition, start, signals. Nothing else. */
import './threadpool';
import { exitOnConfigError } from '@strato/config';
import { stopOnSignals } from '@strato/http';
import { createLogger } from '@strato/log';
import { createObjectStorageService } from './app';
import { loadObjectStorageConfig } from './config';

async function main(): Promise<void> {
  const config = (() => {
    try {
      return loadObjectStorageConfig();
    } catch (err) {
      return exitOnConfigError(err);
    }
  })();
  const log = createLogger('object-storage', { level: config.LOG_LEVEL });
  const service = await createObjectStorageService(config, { log });
  await service.start();
  stopOnSignals(service, log);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `object-storage failed to start: ${err instanceof Error ? err.message : String(err)}\n`,
  );
  process.exit(1);
});
