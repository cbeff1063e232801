/** compute-agent process entry: configuration, composition, start, signals. Nothing else. */
import { exitOnConfigError } from '@strato/config';
import { stopOnSignals } from '@strato/http';
import { applyNice } from '@strato/runtime';
import { createLogger } from '@strato/log';
import { createComputeAgentService } from './app';
import { loadComputeAgentConfig } from './config';

async function main(): Promise<void> {
  const config = (() => {
    try {
      return loadComputeAgentConfig();
    } catch (err) {
      return exitOnConfigError(err);
    }
  })();
  const log = createLogger('compute-agent', { level: config.LOG_LEVEL });
  applyNice(config.PROCESS_NICE, log);
  const service = await createComputeAgentService(config, { log });
  await service.start();
  stopOnSignals(service, log);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `compute-agent failed to start: ${err instanceof Error ? err.message : String(err)}\n`,
  );
  process.exit(1);
});
