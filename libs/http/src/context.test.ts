import { createServer, request as httpRequest } from 'node:http';
import { gzipSync } from 'node:zlib';
import express from 'express';
import { AppError, keystoneFault } from '@strato/errors';
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
    app.use(jsonBody(1024));
    app.post('/echo', (req, res) => {
      res.json(req.body);
    });
    app.get(
      '/boom',
      route(async () => {
        throw new Error('secret detail');
      }),
    );
    app.get(
      '/private',
      route(async () => {
        throw new AppError('Unauthorized', 'The request you have made requires authentication.');
      }),
    );
    app.use(notFoundHandler());
    app.use(errorHandler(keystoneFault, log, { challenge: 'Keystone uri="http://id.example:5000"' }));
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

  describe('JSON bodies', () => {
    const post = (body: string | Buffer, headers: Record<string, string>) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(`${base}/echo`, { method: 'POST', headers }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString() }));
        });
        req.on('error', reject);
        req.end(body);
      });
    const sized = (body: string | Buffer, type: string, extra: Record<string, string> = {}) =>
      post(body, { 'content-type': type, 'content-length': String(Buffer.byteLength(body)), ...extra });

    it('reads the usual request (JSON type, utf-8, Content-Length) as express.json does', async () => {
      const doc = { server: { name: 'vm-é-☃', metadata: { a: '1' }, n: [1, 2.5, null, true] } };
      for (const type of [
        'application/json',
        'Application/JSON; charset=UTF-8',
        'application/json;charset="utf-8"',
        'application/vnd.openstack.compute+json',
      ]) {
        const res = await sized(JSON.stringify(doc), type);
        expect({ type, status: res.status, body: JSON.parse(res.body) as unknown }).toEqual({
          type,
          status: 200,
          body: doc,
        });
      }
      // strict: false, as before: any JSON value.
      expect(await sized('"text"', 'application/json')).toEqual({ status: 200, body: '"text"' });
      // A byte-order mark is dropped and an empty body is {}, as express.json does.
      expect(await sized(Buffer.from('\ufeff{"a":1}'), 'application/json')).toEqual({
        status: 200,
        body: '{"a":1}',
      });
      expect(await sized('', 'application/json')).toEqual({ status: 200, body: '{}' });
    });

    it('refuses malformed JSON and an unsupported charset, and leaves other media types unread', async () => {
      const bad = await sized('{"a":', 'application/json; charset=utf-8');
      expect(bad.status).toBe(400);
      expect(JSON.parse(bad.body)).toMatchObject({ error: { message: 'Malformed request body.' } });
      expect((await sized('{"a":1}', 'application/json; charset=latin1')).status).toBe(415);
      const text = await sized('{"a":1}', 'text/plain');
      expect(text.status).toBe(200);
      expect(text.body).toBe(''); // req.body undefined: res.json writes nothing
    });

    it('hands compressed, chunked and oversize bodies to the general parser', async () => {
      const gz = gzipSync(JSON.stringify({ zipped: true }));
      expect(await sized(gz, 'application/json', { 'content-encoding': 'gzip' })).toEqual({
        status: 200,
        body: '{"zipped":true}',
      });
      expect(
        await post('{"chunked":1}', { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }),
      ).toEqual({
        status: 200,
        body: '{"chunked":1}',
      });
      expect((await sized(JSON.stringify({ a: 'x'.repeat(2000) }), 'application/json')).status).toBe(413);
      expect((await sized('{}', 'application/json', { 'content-encoding': 'rot13' })).status).toBe(415);
    });
  });

  it('names the identity service on a 401, and only there', async () => {
    const denied = await fetch(`${base}/private`);
    expect(denied.status).toBe(401);
    expect(denied.headers.get('www-authenticate')).toBe('Keystone uri="http://id.example:5000"');
    const missing = await fetch(`${base}/nowhere`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('www-authenticate')).toBeNull();
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
