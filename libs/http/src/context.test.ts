import { createServer } from 'node:http';
import express from 'express';
import { keystoneFault } from '@strato/errors';
import { createLogger } from '@strato/log';
import {
  createMetrics,
  errorHandler,
  httpMetrics,
  jsonBody,
  notFoundHandler,
  probes,
  requestContext,
  route,
} from './index';
import { listen, type RunningServer } from './server';

const log = createLogger('test', { level: 'silent' });

describe('http plumbing', () => {
  let srv: RunningServer;
  let base: string;
  let ready = true;

  beforeAll(async () => {
    const app = express();
    const registry = createMetrics('test');
    app.use(requestContext(['x-compute-request-id']));
    app.use(httpMetrics(registry));
    app.use(
      probes(registry, [
        {
          name: 'dep',
          check: async () => {
            if (!ready) throw new Error('down');
          },
        },
      ]),
    );
    app.use(jsonBody('1kb'));
    app.post('/echo', (req, res) => {
      res.json(req.body);
    });
    app.get(
      '/boom',
      route(async () => {
        throw new Error('secret detail');
      }),
    );
    app.use(notFoundHandler());
    app.use(errorHandler(keystoneFault, log));
    srv = await listen(app, 0, '127.0.0.1');
    base = `http://127.0.0.1:${srv.port}`;
  });
  afterAll(() => srv.close());

  it('puts a request id on every response', async () => {
    const res = await fetch(`${base}/healthz`);
    expect(res.headers.get('x-openstack-request-id')).toMatch(/^req-/);
    expect(res.headers.get('x-compute-request-id')).toBe(res.headers.get('x-openstack-request-id'));
  });

  it('maps malformed JSON to 400 and oversize bodies to 413', async () => {
    const bad = await fetch(`${base}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a":',
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({
      error: { code: 400, title: 'Bad Request', message: 'Malformed request body.' },
    });
    const big = await fetch(`${base}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ a: 'x'.repeat(2000) }),
    });
    expect(big.status).toBe(413);
  });

  it('answers unknown paths with the fault body and hides internal errors', async () => {
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    const boom = await fetch(`${base}/boom`);
    expect(boom.status).toBe(500);
    expect(await boom.text()).not.toContain('secret detail');
  });

  it('reports readiness from its checks and serves metrics', async () => {
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    ready = false;
    const res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ checks: [{ name: 'dep', ok: false, error: 'down' }] });
    ready = true;
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('http_request_duration_seconds');
    expect(metrics).toContain('process_resident_memory_bytes');
  });

  it('still closes when a client keeps a connection open', async () => {
    const other = await listen(express(), 0, '127.0.0.1');
    expect(typeof createServer).toBe('function');
    await other.close(100);
    expect(other.server.listening).toBe(false);
  });
});
