import { listen, requestsInFlight } from './server';

describe('requestsInFlight', () => {
  it('counts requests from arrival until their answer, over the servers of the process', async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    let arrived: () => void = () => undefined;
    const arrival = new Promise<void>((r) => (arrived = r));
    const running = await listen(
      (_req, res) => {
        arrived();
        void held.then(() => res.end('ok'));
      },
      0,
      '127.0.0.1',
    );
    try {
      const before = requestsInFlight();
      const answer = fetch(`http://127.0.0.1:${running.port}/`).then((r) => r.text());
      await arrival;
      expect(requestsInFlight()).toBe(before + 1);
      release();
      expect(await answer).toBe('ok');
      await new Promise((r) => setImmediate(r));
      expect(requestsInFlight()).toBe(before);
    } finally {
      await running.close(100);
    }
  });
});
