/** scheduler process entry: configuration, composition, start, signals. Nothing else. */
import { exitOnConfigError } from '@strato/config';
import { stopOnSignals } from '@strato/http';
import { applyNice } from '@strato/runtime';
import { createLogger } from '@strato/log';
import { createSchedulerService } from './app';
import { loadSchedulerConfig } from './config';

async function main(): Promise<void> {
  const config = (() => {
    try {
      return loadSchedulerConfig();
    } catch (err) {
      return exitOnConfigError(err);
    }
  })();
  const log = createLogger('scheduler', { level: config.LOG_LEVEL });
  applyNice(config.PROCESS_NICE, log);
  const service = await createSchedulerService(config, { log });
  await service.start();
  stopOnSignals(service, log);
}

main().catch((err: unknown) => {
  process.stderr.write(`scheduler failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
