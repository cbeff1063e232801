/**
 * Image data through the real object-storage service, run as its own process (as in a
 * multi-process deployment): the image service writes, reads and deletes
 * AUTH_<service project>/images/<id> with the service token it mints.
 */
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { startHarness, type Harness } from './harness';

describe('image data in the object-storage service', () => {
  let h: Harness;
  let token: string;

  beforeAll(async () => {
    h = await startHarness({ objectStorage: 'process' });
    token = h.token('p1');
  }, 60_000);
  afterAll(() => h?.close());

  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${h.base}${path}`, {
      ...init,
      headers: { 'x-auth-token': token, ...(init.headers as Record<string, string>) },
    });

  it('stores, serves and removes image data with matching checksums', async () => {
    const created = await api('/v2/images', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'os', disk_format: 'raw', container_format: 'bare' }),
    });
    const image = (await created.json()) as { id: string };
    const data = Buffer.alloc(1024 * 1024 + 3);
    for (let i = 0; i + 4 <= data.length; i += 8) data.writeUInt32LE((i * 2654435761) >>> 0, i);
    const put = await api(`/v2/images/${image.id}/file`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: data,
    });
    expect(put.status).toBe(204);
    const md5 = createHash('md5').update(data).digest('hex');
    expect(((await (await api(`/v2/images/${image.id}`)).json()) as { checksum: string }).checksum).toBe(md5);

    const get = await api(`/v2/images/${image.id}/file`);
    expect(get.status).toBe(200);
    expect(
      createHash('md5')
        .update(Buffer.from(await get.arrayBuffer()))
        .digest('hex'),
    ).toBe(md5);
    const part = await api(`/v2/images/${image.id}/file`, { headers: { range: 'bytes=10-19' } });
    expect(part.status).toBe(206);
    expect(Buffer.from(await part.arrayBuffer()).equals(data.subarray(10, 20))).toBe(true);

    const object = () =>
      fetch(`${h.objectStoreUrl}/AUTH_svc/images/${image.id}`, {
        method: 'HEAD',
        headers: { 'x-auth-token': h.token('svc', { admin: true }) },
      });
    expect((await object()).status).toBe(200);
    expect((await api(`/v2/images/${image.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await object()).status).toBe(404);
    expect((await api('/readyz')).status).toBe(200);
  });

  it('keeps nothing of an upload whose client disconnects', async () => {
    const image = (await (
      await api('/v2/images', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
    ).json()) as { id: string };
    const status = async () =>
      ((await (await api(`/v2/images/${image.id}`)).json()) as { status: string }).status;
    const url = new URL(h.base);
    await new Promise<void>((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname, () => {
        socket.write(
          `PUT /v2/images/${image.id}/file HTTP/1.1\r\nHost: ${url.host}\r\nX-Auth-Token: ${token}\r\n` +
            'Content-Type: application/octet-stream\r\nContent-Length: 5000000\r\n\r\n',
        );
        socket.write(Buffer.alloc(256 * 1024, 7), () => {
          const waitSaving = async () => {
            while ((await status()) !== 'saving') await new Promise((r) => setTimeout(r, 20));
            socket.destroy();
            resolve();
          };
          waitSaving().catch(reject);
        });
      });
      socket.on('error', reject);
    });
    while ((await status()) !== 'queued') await new Promise((r) => setTimeout(r, 20));
    const object = await fetch(`${h.objectStoreUrl}/AUTH_svc/images/${image.id}`, {
      headers: { 'x-auth-token': h.token('svc', { admin: true }) },
    });
    expect(object.status).toBe(404);
  });
});
