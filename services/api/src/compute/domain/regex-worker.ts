/**
 * Users' regular expressions (the server name filter, as Nova reads it) are matched off the
 * event loop, in one worker thread, under a time limit. A pattern that backtracks without end
 * (`^(a+)+$` against forty a's and a '!' runs for minutes) then stalls no other request: when
 * the limit passes, the worker is ended (V8 stops a running match at once), the request is
 * refused, and the next match starts a new worker. Matches run one at a time, in order.
 */
import { Worker } from 'node:worker_threads';

/** The worker: compiles each pattern it is sent and tests every subject. */
const SOURCE = `
const { parentPort } = require('node:worker_threads');
parentPort.on('message', ({ pattern, flags, subjects }) => {
  const re = new RegExp(pattern, flags);
  parentPort.postMessage(subjects.map((s) => re.test(s)));
});
`;

export class RegexTimeout extends Error {
  constructor(readonly ms: number) {
    super(`matching took longer than ${ms} ms`);
  }
}

export class RegexWorker {
  private worker: Worker | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly timeoutMs = 250) {}

  /**
   * Which subjects the pattern matches. The pattern must compile (check it with `new RegExp`
   * first: compiling is linear, matching is not). Rejects with RegexTimeout past the limit.
   */
  test(pattern: string, flags: string, subjects: string[]): Promise<boolean[]> {
    const run = this.queue.then(() => this.run(pattern, flags, subjects));
    this.queue = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    await worker?.terminate();
  }

  private run(pattern: string, flags: string, subjects: string[]): Promise<boolean[]> {
    const worker = (this.worker ??= this.start());
    return new Promise<boolean[]>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('error', onError);
      };
      const drop = () => {
        if (this.worker === worker) this.worker = null;
        void worker.terminate();
      };
      const onMessage = (matches: boolean[]) => {
        done();
        resolve(matches);
      };
      const onError = (err: Error) => {
        done();
        drop();
        reject(err);
      };
      const timer = setTimeout(() => {
        done();
        drop();
        reject(new RegexTimeout(this.timeoutMs));
      }, this.timeoutMs);
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.postMessage({ pattern, flags, subjects });
    });
  }

  private start(): Worker {
    const worker = new Worker(SOURCE, { eval: true });
    // An idle worker never keeps the process alive (nor delays its stop).
    worker.unref();
    return worker;
  }
}
