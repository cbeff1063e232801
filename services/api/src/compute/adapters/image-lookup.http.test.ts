import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger } from '@strato/log';
import type { NewImage } from '../domain/ports';
import { faultMessage, HttpImageLookup } from './image-lookup.http';

const log = createLogger('image-lookup-test', { level: 'silent' });
const auth = { token: 'user-token', projectId: 'p1', admin: false };

interface Seen {
  method: string;
  url: string;
  token: string | undefined;
  body: string;
}

let server: Server;
let url: string;
const seen: Seen[] = [];
let reply: (req: Seen) => { status: number; body?: string } = () => ({ status: 204 });

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const request = {
        method: req.method ?? '',
        url: req.url ?? '',
        token: req.headers['x-auth-token'] as string | undefined,
        body,
      };
      seen.push(request);
      const answer = reply(request);
      res.statusCode = answer.status;
      res.end(answer.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  seen.length = 0;
});

const snapshot = (over: Partial<NewImage> = {}): NewImage => ({
  name: 'snap1',
  owner: 'p1',
  visibility: 'private',
  disk_format: 'qcow2',
  container_format: 'bare',
  min_disk_gb: 1,
  min_ram_mb: 64,
  properties: { image_type: 'snapshot', instance_uuid: 'i1' },
  ...over,
});

const glanceHtml = (status: string, text: string) =>
  `<html>\n <head>\n  <title>${status}</title>\n </head>\n <body>\n  <h1>${status}</h1>\n  ${text}<br /><br />\n\n\n\n </body>\n</html>`;

describe('HttpImageLookup.get', () => {
  const doc = (id: string, name: string) =>
    JSON.stringify({ id, name, status: 'active', disk_format: 'raw', container_format: 'bare', size: 1 });

  it('serves a found image stale while one background request refreshes it; concurrent misses share one request', async () => {
    let clock = 0;
    let name = 'first';
    reply = (req) => ({ status: 200, body: doc(req.url.split('/').at(-1)!, name) });
    const images = new HttpImageLookup({
      imageUrl: url,
      log,
      ttlMs: 1000,
      maxStaleMs: 10_000,
      now: () => clock,
    });
    const [a, b] = await Promise.all([images.get('img1', auth), images.get('img1', auth)]);
    expect([a?.name, b?.name]).toEqual(['first', 'first']);
    expect(seen).toHaveLength(1);

    clock = 5000; // stale: answered from the cache at once, refreshed behind
    name = 'second';
    expect((await images.get('img1', auth))?.name).toBe('first');
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toHaveLength(2);
    expect((await images.get('img1', auth))?.name).toBe('second');

    clock = 60_000; // too old to serve: the caller waits for the image service
    name = 'third';
    expect((await images.get('img1', auth))?.name).toBe('third');
    expect(seen).toHaveLength(3);
  });

  it('never serves a stale "not found": a new image is seen once the fresh period is over', async () => {
    let clock = 0;
    let exists = false;
    reply = (req) =>
      exists ? { status: 200, body: doc(req.url.split('/').at(-1)!, 'new') } : { status: 404 };
    const images = new HttpImageLookup({
      imageUrl: url,
      log,
      ttlMs: 1000,
      maxStaleMs: 10_000,
      now: () => clock,
    });
    expect(await images.get('img2', auth)).toBeNull();
    exists = true;
    clock = 2000;
    expect((await images.get('img2', auth))?.name).toBe('new');
  });
  it("never serves a member of a project what the project's admin was shown", async () => {
    // The image service shows another project's private image to an admin token only.
    reply = (req) =>
      req.token === 'admin-token'
        ? { status: 200, body: doc(req.url.split('/').at(-1)!, 'theirs') }
        : { status: 404 };
    const images = new HttpImageLookup({ imageUrl: url, log });
    const admin = { token: 'admin-token', projectId: 'p1', admin: true };
    expect((await images.get('private-of-p2', admin))?.name).toBe('theirs');
    expect(await images.get('private-of-p2', auth)).toBeNull();
    expect(seen.map((r) => r.token)).toEqual(['admin-token', 'user-token']);
  });
});

describe('HttpImageLookup.create', () => {
  it('posts the image with the caller token, properties at the top level, and returns its id', async () => {
    const id = randomUUID();
    reply = () => ({ status: 201, body: JSON.stringify({ id, status: 'queued' }) });
    const images = new HttpImageLookup({ imageUrl: `${url}/`, log });
    await expect(images.create(snapshot(), auth)).resolves.toBe(id);
    expect(seen[0]).toMatchObject({ method: 'POST', url: '/v2/images', token: 'user-token' });
    expect(JSON.parse(seen[0]!.body)).toEqual({
      name: 'snap1',
      owner: 'p1',
      visibility: 'private',
      disk_format: 'qcow2',
      container_format: 'bare',
      min_disk: 1,
      min_ram: 64,
      image_type: 'snapshot',
      instance_uuid: 'i1',
    });
  });

  it("keeps the image service's refusals and their reasons", async () => {
    const images = new HttpImageLookup({ imageUrl: url, log });
    reply = () => ({
      status: 413,
      body: glanceHtml(
        '413 Request Entity Too Large',
        'Maximum number of properties exceeded (130 &gt; 128).',
      ),
    });
    await expect(images.create(snapshot(), auth)).rejects.toMatchObject({
      kind: 'QuotaExceeded',
      message: 'Maximum number of properties exceeded (130 > 128).',
    });
    reply = () => ({ status: 500, body: glanceHtml('500 Internal Server Error', 'boom') });
    await expect(images.create(snapshot(), auth)).rejects.toMatchObject({ kind: 'Unavailable' });
  });

  it('refuses a property named like an image attribute before asking', async () => {
    const images = new HttpImageLookup({ imageUrl: url, log });
    await expect(images.create(snapshot({ properties: { status: 'active' } }), auth)).rejects.toMatchObject({
      kind: 'Invalid',
      message: expect.stringContaining('status'),
    });
    expect(seen).toEqual([]);
  });
});

describe('HttpImageLookup.delete', () => {
  it('deletes with the caller token, an image already gone included', async () => {
    const images = new HttpImageLookup({ imageUrl: url, log });
    const id = randomUUID();
    reply = () => ({ status: 204 });
    await images.delete(id, auth);
    reply = () => ({ status: 404, body: glanceHtml('404 Not Found', 'gone') });
    await images.delete(id, auth);
    expect(seen.map((s) => [s.method, s.url, s.token])).toEqual([
      ['DELETE', `/v2/images/${id}`, 'user-token'],
      ['DELETE', `/v2/images/${id}`, 'user-token'],
    ]);
  });
});

describe('faultMessage', () => {
  it("reads Glance's HTML faults and JSON ones", () => {
    expect(faultMessage(glanceHtml('403 Forbidden', 'You are not permitted to modify the owner.'))).toBe(
      'You are not permitted to modify the owner.',
    );
    expect(faultMessage('{"message": "bad"}')).toBe('bad');
    expect(faultMessage('garbage')).toBeNull();
  });
});
