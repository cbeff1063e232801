import { afterRequests, listen, requestsInFlight, type RunningServer } from './server';

/**
 * A server that holds its one request until release(), and that request sent: `arrival`
 * resolves once the server has it, `answer` with the body it finally got.
 */
async function heldRequest(): Promise<{
  running: RunningServer;
  arrival: Promise<void>;
  answer: Promise<string>;
  release: () => void;
}> {
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
  const answer = fetch(`http://127.0.0.1:${running.port}/`).then((r) => r.text());
  return { running, arrival, answer, release };
}

describe('requestsInFlight', () => {
  it('counts requests from arrival until their answer, over the servers of the process', async () => {
    const before = requestsInFlight();
    const { running, arrival, answer, release } = await heldRequest();
    try {
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

describe('afterRequests', () => {
  it('waits for the requests in flight to be answered, or for maxWaitMs', async () => {
    const { running, arrival, answer, release } = await heldRequest();
    try {
      await arrival;
      let patient = false;
      const waiting = afterRequests(60_000).then(() => (patient = true));
      await afterRequests(30); // gives up waiting after 30 ms, the request still held
      expect(requestsInFlight()).toBeGreaterThan(0);
      expect(patient).toBe(false);
      release();
      expect(await answer).toBe('ok');
      await waiting; // let go once the answer went out
      expect(patient).toBe(true);
    } finally {
      await running.close(100);
    }
  });
});
