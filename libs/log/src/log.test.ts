import { Writable } from 'node:stream';
import { createLogger, currentRequestId, newRequestId, withRequestId } from './index';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, destination };
}

describe('log', () => {
  it('writes JSON lines with the component and the current request id', () => {
    const { lines, destination } = capture();
    const log = createLogger('api', { destination });
    const id = newRequestId();
    withRequestId(id, () => log.info('inside'));
    log.info('outside');
    expect(lines[0]).toMatchObject({ component: 'api', reqId: id, msg: 'inside' });
    expect(lines[1]?.reqId).toBeUndefined();
  });

  it('keeps the request id across awaits', async () => {
    const id = newRequestId();
    const seen = await withRequestId(id, async () => {
      await new Promise((r) => setTimeout(r, 1));
      return currentRequestId();
    });
    expect(seen).toBe(id);
    expect(id).toMatch(/^req-[0-9a-f-]{36}$/);
  });

  it('redacts passwords, tokens and auth headers', () => {
    const { lines, destination } = capture();
    const log = createLogger('api', { destination });
    log.info({ user: { password: 'hunter2' }, headers: { 'x-auth-token': 'abc' }, token: 't' }, 'x');
    const text = JSON.stringify(lines[0]);
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('"abc"');
    expect(text).not.toContain('"t"');
  });
});
