import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpImageUploader, snapshotUploader } from './image-upload';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A stand-in image service: records requests, answers from `reply`. */
class StubImageService {
  readonly seen: Seen[] = [];
  reply: (req: Seen) => { status: number; body?: string } = () => ({ status: 204 });
  private server: Server | null = null;

  async start(): Promise<string> {
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const seen = {
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        };
        this.seen.push(seen);
        const answer = this.reply(seen);
        res.statusCode = answer.status;
        res.end(answer.body ?? '');
      });
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

describe('HttpImageUploader', () => {
  const stub = new StubImageService();
  const dir = mkdtempSync(join(tmpdir(), 'strato-upload-'));
  let uploader: HttpImageUploader;
  const imageId = randomUUID();

  beforeAll(async () => {
    const url = await stub.start();
    uploader = new HttpImageUploader({ url: `${url}/`, token: () => 'agent-token' });
  });

  afterAll(async () => {
    uploader.close();
    await stub.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    stub.seen.length = 0;
  });

  it('reads an image status with its token, and null for an image that is gone', async () => {
    stub.reply = (req) =>
      req.url.endsWith(imageId)
        ? { status: 200, body: JSON.stringify({ id: imageId, status: 'queued' }) }
        : { status: 404 };
    await expect(uploader.status(imageId)).resolves.toBe('queued');
    await expect(uploader.status(randomUUID())).resolves.toBeNull();
    expect(stub.seen[0]).toMatchObject({ method: 'GET', url: `/v2/images/${imageId}` });
    expect(stub.seen[0]!.headers['x-auth-token']).toBe('agent-token');
  });

  it('records the disk format, then streams the file as octet-stream with its length', async () => {
    const file = join(dir, 'disk');
    writeFileSync(file, 'x'.repeat(100_000));
    stub.reply = (req) => (req.method === 'PATCH' ? { status: 200, body: '{}' } : { status: 204 });
    await uploader.upload(imageId, file, 'raw');
    const [patch, put] = stub.seen;
    expect(patch).toMatchObject({ method: 'PATCH', url: `/v2/images/${imageId}` });
    expect(patch!.headers['content-type']).toBe('application/openstack-images-v2.1-json-patch');
    expect(JSON.parse(patch!.body)).toEqual([
      { op: 'replace', path: '/disk_format', value: 'raw' },
      { op: 'replace', path: '/container_format', value: 'bare' },
    ]);
    expect(put).toMatchObject({ method: 'PUT', url: `/v2/images/${imageId}/file` });
    expect(put!.headers).toMatchObject({
      'content-type': 'application/octet-stream',
      'content-length': '100000',
      'x-auth-token': 'agent-token',
    });
    expect(put!.body).toHaveLength(100_000);
  });

  it("passes on the image service's refusal with its reason", async () => {
    const file = join(dir, 'small');
    writeFileSync(file, 'data');
    stub.reply = (req) =>
      req.method === 'PATCH'
        ? { status: 200, body: '{}' }
        : {
            status: 409,
            body: '<html><body><h1>409 Conflict</h1>\n  Image status transition from active to saving is not allowed<br /><br /></body></html>',
          };
    await expect(uploader.upload(imageId, file, 'qcow2')).rejects.toMatchObject({
      kind: 'Conflict',
      message: expect.stringContaining('(409): Image status transition from active to saving is not allowed'),
    });
  });

  it('deletes an image, and takes an image already gone as deleted', async () => {
    stub.reply = () => ({ status: 204 });
    await uploader.discard(imageId);
    stub.reply = () => ({ status: 404 });
    await uploader.discard(imageId);
    expect(stub.seen.map((s) => s.method)).toEqual(['DELETE', 'DELETE']);
  });

  it('says the token was refused on 401', async () => {
    stub.reply = () => ({ status: 401 });
    await expect(uploader.status(imageId)).rejects.toMatchObject({
      kind: 'Internal',
      message: expect.stringContaining('TOKEN_SIGNING_KEYS'),
    });
  });

  it('is Unavailable when nothing listens', async () => {
    const down = new HttpImageUploader({ url: 'http://127.0.0.1:1', token: () => 't' });
    await expect(down.status(imageId)).rejects.toMatchObject({ kind: 'Unavailable' });
    down.close();
  });
});

describe('snapshotUploader', () => {
  it('refuses snapshots, saying why, without the signing keys', async () => {
    const uploader = snapshotUploader({ imageUrl: 'http://127.0.0.1:9292', token: null });
    await expect(uploader.status(randomUUID())).rejects.toMatchObject({
      kind: 'Unavailable',
      message: expect.stringContaining('TOKEN_SIGNING_KEYS'),
    });
  });
});
