/** image process entry: configuration, composition, start, signals. Nothing else. */
import { exitOnConfigError } from '@strato/config';
import { stopOnSignals } from '@strato/http';
import { createLogger } from '@strato/log';
import { createImageService } from './app';
import { loadImageConfig } from './config';

async function main(): Promise<void> {
  const config = (() => {
    try {
      return loadImageConfig();
    } catch (err) {
      return exitOnConfigError(err);
    }
  })();
  const log = createLogger('image', { level: config.LOG_LEVEL });
  const service = await createImageService(config, { log });
  await service.start();
  stopOnSignals(service, log);
}

main().catch((err: unknown) => {
  process.stderr.write(`image failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
