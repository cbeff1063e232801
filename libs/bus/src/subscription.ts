/** A consumer registered on the bus: tracks its in-flight handlers so cancel/close can wait. */
import type { Logger } from '@strato/log';
import type { Subscription } from './bus';
import type { TransportConsumer } from './transport';

export class ActiveSubscription implements Subscription {
  consumer: TransportConsumer | undefined;
  private readonly inflight = new Set<Promise<void>>();
  private cancelling: Promise<void> | undefined;

  constructor(
    readonly queue: string,
    private readonly log: Logger,
    private readonly onCancelled: (sub: ActiveSubscription) => void,
  ) {}

  /** Keeps a handler's work (handler, then ack/retry/dead-letter) until it settles. */
  track(work: Promise<void>): void {
    this.inflight.add(work);
    void work.finally(() => this.inflight.delete(work));
  }

  get inFlight(): number {
    return this.inflight.size;
  }

  cancel(): Promise<void> {
    this.cancelling ??= this.stopAndDrain();
    return this.cancelling;
  }

  private async stopAndDrain(): Promise<void> {
    try {
      await this.consumer?.stop();
    } catch (err) {
      this.log.warn({ err, queue: this.queue }, 'could not stop consumer cleanly');
    }
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
    try {
      await this.consumer?.close();
    } catch (err) {
      this.log.warn({ err, queue: this.queue }, 'could not close consumer cleanly');
    }
    this.onCancelled(this);
  }
}
