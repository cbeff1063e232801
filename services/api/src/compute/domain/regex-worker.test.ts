import { RegexTimeout, RegexWorker } from './regex-worker';

describe('RegexWorker', () => {
  const worker = new RegexWorker(300);
  afterAll(() => worker.close());

  it('stops a pattern that backtracks without end, and matches the next one in a new worker', async () => {
    // With the backtracking engine this runs for minutes; on the event loop it would stall all.
    let ticks = 0;
    const timer = setInterval(() => ticks++, 20);
    const stuck = worker.test('^(a+)+$', 'i', [`${'a'.repeat(40)}!`]);
    const next = worker.test('^web-\\d+$', 'i', ['WEB-12', 'db-1']);
    await expect(stuck).rejects.toBeInstanceOf(RegexTimeout);
    await expect(next).resolves.toEqual([true, false]);
    clearInterval(timer);
    // The event loop ran all along: the timer fired while the worker was stuck.
    expect(ticks).toBeGreaterThan(0);
  });
});
