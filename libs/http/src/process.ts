/**
 * Process entry helper for main.ts: start, then on SIGTERM/SIGINT stop gracefully (stop
 * consuming, finish in-flight work, close) and exit; a second signal or a stop that hangs
 * past the grace period exits at once.
 */
import type { Logger } from '@strato/log';

export interface Stoppable {
  stop(): Promise<void>;
}

export function stopOnSignals(target: Stoppable, log: Logger, graceMs = 20_000): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'stopping');
    const timer = setTimeout(() => {
      log.error('graceful stop timed out; exiting');
      process.exit(1);
    }, graceMs);
    timer.unref();
    target.stop().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
