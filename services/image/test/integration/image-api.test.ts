/**
 * Image v2 over HTTP, against the running service (SQLite in a temp dir, data in a Swift
 * stub over HTTP): the API as Glance answers it, tenant isolation, uploads that fail.
 */
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { startHarness, type Harness } from './harness';

const PATCH = 'application/openstack-images-v2.1-json-patch';

/** JSON bodies are read loosely: the assertions themselves check their shape. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Body = any;
type LooseResponse = Omit<Response, 'json'> & { json(): Promise<Body> };

describe('Image v2 API', () => {
  let h: Harness;
  let alice: string;
  let bob: string;
  let admin: string;

  beforeAll(async () => {
    h = await startHarness();
    alice = h.token('alice');
    bob = h.token('bob');
    admin = h.token('admin-project', { admin: true });
  });
  afterAll(() => h.close());

  function api(
    token: string | null,
    path: string,
    init: RequestInit & { json?: unknown; patch?: unknown } = {},
  ) {
    const headers = new Headers(init.headers);
    if (token) headers.set('x-auth-token', token);
    let body = init.body;
    if (init.json !== undefined) {
      headers.set('content-type', 'application/json');
      body = JSON.stringify(init.json);
    }
    if (init.patch !== undefined) {
      headers.set('content-type', PATCH);
      body = JSON.stringify(init.patch);
    }
    return fetch(`${h.base}${path}`, { ...init, headers, body }) as Promise<LooseResponse>;
  }

  async function create(token: string, json: Record<string, unknown> = {}): Promise<Body> {
    const res = await api(token, '/v2/images', {
      method: 'POST',
      json: { disk_format: 'raw', container_format: 'bare', ...json },
    });
    expect(res.status).toBe(201);
    return res.json();
  }

  async function upload(token: string, id: string, data: Buffer | string): Promise<LooseResponse> {
    return api(token, `/v2/images/${id}/file`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: data,
    });
  }

  async function status(id: string): Promise<string> {
    return ((await (await api(alice, `/v2/images/${id}`)).json()) as { status: string }).status;
  }

  it('answers version discovery at / with 300 and the v2 versions', async () => {
    const res = await fetch(`${h.base}/`);
    expect(res.status).toBe(300);
    const body = (await res.json()) as { versions: { id: string }[] };
    expect(body.versions[0]).toEqual({
      id: 'v2.15',
      status: 'CURRENT',
      links: [{ rel: 'self', href: `${h.base}/v2/` }],
    });
    expect(body.versions.map((v) => v.id)).toContain('v2.0');
    expect((await fetch(`${h.base}/versions`)).status).toBe(200);
  });

  it('asks for a token with a 401 page pointing at Keystone', async () => {
    const res = await api(null, '/v2/images');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Keystone uri=/);
    expect(res.headers.get('content-type')).toBe('text/html; charset=UTF-8');
    expect((await res.text()).length).toBe(358);
    expect((await api('not-a-token', '/v2/images')).status).toBe(401);
  });

  it('creates a queued image with every Glance field and extra properties at top level', async () => {
    const res = await api(alice, '/v2/images', {
      method: 'POST',
      json: {
        name: 'img',
        disk_format: 'qcow2',
        container_format: 'bare',
        'owner_specified.openstack.md5': '',
        os_distro: 'debian',
      },
    });
    expect(res.status).toBe(201);
    const image = await res.json();
    expect(res.headers.get('location')).toBe(`${h.base}/v2/images/${image.id}`);
    expect(image).toEqual({
      'owner_specified.openstack.md5': '',
      os_distro: 'debian',
      name: 'img',
      disk_format: 'qcow2',
      container_format: 'bare',
      visibility: 'shared',
      size: null,
      virtual_size: null,
      status: 'queued',
      checksum: null,
      protected: false,
      min_ram: 0,
      min_disk: 0,
      owner: 'alice',
      os_hidden: false,
      os_hash_algo: null,
      os_hash_value: null,
      id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/),
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      updated_at: image.created_at,
      tags: [],
      self: `/v2/images/${image.id}`,
      file: `/v2/images/${image.id}/file`,
      schema: '/v2/schemas/image',
    });
  });

  it('validates formats, values and read-only attributes on create', async () => {
    const post = (json: unknown) => api(alice, '/v2/images', { method: 'POST', json });
    expect((await post({ disk_format: 'floppy' })).status).toBe(400);
    expect((await post({ container_format: 'zip' })).status).toBe(400);
    expect((await post({ min_ram: -1 })).status).toBe(400);
    expect((await post({ custom: 42 })).status).toBe(400);
    expect((await post({ status: 'active' })).status).toBe(403);
    expect((await post({ checksum: 'abc' })).status).toBe(403);
    expect((await post({ visibility: 'public' })).status).toBe(403);
    expect((await post({ name: 'x'.repeat(256) })).status).toBe(400);
    expect((await post([1])).status).toBe(400);
    const bad = await api(alice, '/v2/images', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a":',
    });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toBe('text/html; charset=UTF-8');
  });

  it('answers an unknown image with Glance’s 404 page', async () => {
    const res = await api(alice, '/v2/images/trace-image');
    expect(res.status).toBe(404);
    const text = await res.text();
    expect(text).toBe(
      '<html>\n <head>\n  <title>404 Not Found</title>\n </head>\n <body>\n  <h1>404 Not Found</h1>\n' +
        '  No image found with ID trace-image<br /><br />\n\n\n\n </body>\n</html>',
    );
    expect(text.length).toBe(156);
  });

  it('uploads and downloads data with checksums, Content-MD5 and ranges', async () => {
    const image = await create(alice, { name: 'data' });
    const data = Buffer.alloc(200_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) % 256;
    const put = await upload(alice, image.id, data);
    expect(put.status).toBe(204);
    const md5 = createHash('md5').update(data).digest('hex');
    const shown = await (await api(alice, `/v2/images/${image.id}`)).json();
    expect(shown).toMatchObject({
      status: 'active',
      size: data.length,
      virtual_size: data.length,
      checksum: md5,
      os_hash_algo: 'sha512',
      os_hash_value: createHash('sha512').update(data).digest('hex'),
    });
    const get = await api(alice, `/v2/images/${image.id}/file`);
    expect(get.status).toBe(200);
    expect(get.headers.get('content-md5')).toBe(md5);
    expect(get.headers.get('content-type')).toBe('application/octet-stream');
    expect(Buffer.from(await get.arrayBuffer()).equals(data)).toBe(true);

    const part = await api(alice, `/v2/images/${image.id}/file`, { headers: { range: 'bytes=100-199' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 100-199/${data.length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(data.subarray(100, 200))).toBe(true);

    const past = await api(alice, `/v2/images/${image.id}/file`, {
      headers: { range: `bytes=${data.length}-` },
    });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe(`bytes */${data.length}`);

    expect((await upload(alice, image.id, 'again')).status).toBe(409);
    expect(h.swift!.objects()).toContain(`AUTH_svc/images/${image.id}`);
  });

  it('answers 204 for the data of an image that has none, and 415 for a non-binary upload', async () => {
    const image = await create(alice);
    expect((await api(alice, `/v2/images/${image.id}/file`)).status).toBe(204);
    const res = await api(alice, `/v2/images/${image.id}/file`, {
      method: 'PUT',
      headers: { 'content-type': 'text/plain' },
      body: 'x',
    });
    expect(res.status).toBe(415);
  });

  it('puts an image back to queued, with no data kept, when the client disconnects mid-upload', async () => {
    const image = await create(alice);
    const url = new URL(h.base);
    await new Promise<void>((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname, () => {
        socket.write(
          `PUT /v2/images/${image.id}/file HTTP/1.1\r\nHost: ${url.host}\r\nX-Auth-Token: ${alice}\r\n` +
            'Content-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n',
        );
        socket.write(Buffer.alloc(64 * 1024, 1), () => {
          // The upload has begun once the image is saving; then the client goes away.
          const waitSaving = async () => {
            while ((await status(image.id)) !== 'saving') await new Promise((r) => setTimeout(r, 20));
            socket.destroy();
            resolve();
          };
          waitSaving().catch(reject);
        });
      });
      socket.on('error', reject);
    });
    while ((await status(image.id)) !== 'queued') await new Promise((r) => setTimeout(r, 20));
    expect(h.swift!.objects()).not.toContain(`AUTH_svc/images/${image.id}`);
    expect((await upload(alice, image.id, 'complete')).status).toBe(204);
    expect(await status(image.id)).toBe('active');
  });

  it('puts an image back to queued when a chunked upload is cut short', async () => {
    const image = await create(alice);
    const url = new URL(h.base);
    await new Promise<void>((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname, () => {
        socket.write(
          `PUT /v2/images/${image.id}/file HTTP/1.1\r\nHost: ${url.host}\r\nX-Auth-Token: ${alice}\r\n` +
            'Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n' +
            '10\r\n0123456789abcdef\r\n',
          () => {
            const waitSaving = async () => {
              while ((await status(image.id)) !== 'saving') await new Promise((r) => setTimeout(r, 20));
              socket.end();
              resolve();
            };
            waitSaving().catch(reject);
          },
        );
      });
      socket.on('error', reject);
    });
    while ((await status(image.id)) !== 'queued') await new Promise((r) => setTimeout(r, 20));
    expect(h.swift!.objects()).not.toContain(`AUTH_svc/images/${image.id}`);
  });

  it('changes images with JSON patch, as Glance does', async () => {
    const image = await create(alice, { name: 'before', k: 'v' });
    const path = `/v2/images/${image.id}`;
    const ok = await api(alice, path, {
      method: 'PATCH',
      patch: [
        { op: 'replace', path: '/name', value: 'after' },
        { op: 'add', path: '/os_distro', value: 'fedora' },
        { op: 'remove', path: '/k' },
        { op: 'add', path: '/tags', value: ['a', 'b'] },
        { op: 'replace', path: '/min_disk', value: 10 },
        { op: 'replace', path: '/visibility', value: 'private' },
      ],
    });
    expect(ok.status).toBe(200);
    const body = await ok.json();
    expect(body).toMatchObject({
      name: 'after',
      os_distro: 'fedora',
      tags: ['a', 'b'],
      min_disk: 10,
      visibility: 'private',
    });
    expect(body).not.toHaveProperty('k');

    const wrongType = await api(alice, path, { method: 'PATCH', json: [] });
    expect(wrongType.status).toBe(415);
    const malformed = await api(alice, path, {
      method: 'PATCH',
      headers: { 'content-type': PATCH },
      body: '[{',
    });
    expect(malformed.status).toBe(400);
    expect(
      (await api(alice, path, { method: 'PATCH', patch: [{ op: 'copy', path: '/a', from: '/b' }] })).status,
    ).toBe(400);
    expect((await api(alice, path, { method: 'PATCH', patch: { op: 'add' } })).status).toBe(400);
    for (const attr of ['id', 'status', 'checksum', 'size', 'os_hash_value', 'created_at']) {
      const res = await api(alice, path, {
        method: 'PATCH',
        patch: [{ op: 'replace', path: `/${attr}`, value: 'x' }],
      });
      expect(res.status).toBe(403);
      expect(await res.text()).toContain(`Attribute &#x27;${attr}&#x27; is read-only.`);
    }
    expect(
      (await api(alice, path, { method: 'PATCH', patch: [{ op: 'remove', path: '/name' }] })).status,
    ).toBe(403);
    expect(
      (await api(alice, path, { method: 'PATCH', patch: [{ op: 'remove', path: '/nope' }] })).status,
    ).toBe(409);
    expect(
      (
        await api(alice, path, {
          method: 'PATCH',
          patch: [{ op: 'replace', path: '/disk_format', value: 'floppy' }],
        })
      ).status,
    ).toBe(400);
    expect(
      (
        await api(alice, path, {
          method: 'PATCH',
          patch: [{ op: 'replace', path: '/visibility', value: 'public' }],
        })
      ).status,
    ).toBe(403);
    const published = await api(admin, path, {
      method: 'PATCH',
      patch: [{ op: 'replace', path: '/visibility', value: 'public' }],
    });
    expect(published.status).toBe(200);
  });

  it('adds and removes tags', async () => {
    const image = await create(alice);
    expect((await api(alice, `/v2/images/${image.id}/tags/web%20server`, { method: 'PUT' })).status).toBe(
      204,
    );
    expect((await (await api(alice, `/v2/images/${image.id}`)).json()).tags).toEqual(['web server']);
    expect((await api(alice, `/v2/images/${image.id}/tags/web%20server`, { method: 'DELETE' })).status).toBe(
      204,
    );
    expect((await api(alice, `/v2/images/${image.id}/tags/web%20server`, { method: 'DELETE' })).status).toBe(
      404,
    );
  });

  it('deletes images, but not protected ones, and removes their data', async () => {
    const image = await create(alice, { protected: true });
    await upload(alice, image.id, 'bytes');
    expect((await api(alice, `/v2/images/${image.id}`, { method: 'DELETE' })).status).toBe(403);
    await api(alice, `/v2/images/${image.id}`, {
      method: 'PATCH',
      patch: [{ op: 'replace', path: '/protected', value: false }],
    });
    expect((await api(alice, `/v2/images/${image.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await api(alice, `/v2/images/${image.id}`)).status).toBe(404);
    expect(h.swift!.objects()).not.toContain(`AUTH_svc/images/${image.id}`);
  });

  it('keeps projects apart: another project’s private image is a 404 everywhere', async () => {
    const image = await create(alice, { name: 'alice-only', visibility: 'private' });
    await upload(alice, image.id, 'secret');
    for (const [method, path] of [
      ['GET', `/v2/images/${image.id}`],
      ['GET', `/v2/images/${image.id}/file`],
      ['DELETE', `/v2/images/${image.id}`],
      ['PUT', `/v2/images/${image.id}/tags/x`],
    ] as const) {
      expect((await api(bob, path, { method })).status).toBe(404);
    }
    const patched = await api(bob, `/v2/images/${image.id}`, { method: 'PATCH', patch: [] });
    expect(patched.status).toBe(404);
    const bobList = await (await api(bob, '/v2/images')).json();
    expect((bobList.images as { id: string }[]).map((i) => i.id)).not.toContain(image.id);
    expect((await api(admin, `/v2/images/${image.id}`)).status).toBe(200);
  });

  it('shares an image with a member project through members', async () => {
    const image = await create(alice, { name: 'to-share' });
    const base = `/v2/images/${image.id}/members`;
    const added = await api(alice, base, { method: 'POST', json: { member: 'bob' } });
    expect(added.status).toBe(200);
    expect(await added.json()).toMatchObject({
      image_id: image.id,
      member_id: 'bob',
      status: 'pending',
      schema: '/v2/schemas/member',
    });
    expect((await api(alice, base, { method: 'POST', json: { member: 'bob' } })).status).toBe(409);

    const listed = async (query = '') =>
      ((await (await api(bob, `/v2/images${query}`)).json()).images as { id: string }[]).map((i) => i.id);
    expect(await listed()).not.toContain(image.id);
    expect(await listed('?member_status=pending')).toContain(image.id);
    expect((await api(bob, `/v2/images/${image.id}`)).status).toBe(200);

    expect((await api(alice, `${base}/bob`, { method: 'PUT', json: { status: 'accepted' } })).status).toBe(
      403,
    );
    expect((await api(bob, `${base}/bob`, { method: 'PUT', json: { status: 'maybe' } })).status).toBe(400);
    const accepted = await api(bob, `${base}/bob`, { method: 'PUT', json: { status: 'accepted' } });
    expect((await accepted.json()).status).toBe('accepted');
    expect(await listed()).toContain(image.id);
    expect((await (await api(alice, base)).json()).members).toHaveLength(1);
    expect((await (await api(bob, `${base}/bob`)).json()).status).toBe('accepted');

    expect((await api(bob, `${base}/bob`, { method: 'DELETE' })).status).toBe(403);
    expect((await api(alice, `${base}/bob`, { method: 'DELETE' })).status).toBe(204);
    expect((await api(bob, `/v2/images/${image.id}`)).status).toBe(404);

    const priv = await create(alice, { visibility: 'private' });
    expect(
      (await api(alice, `/v2/images/${priv.id}/members`, { method: 'POST', json: { member: 'bob' } })).status,
    ).toBe(403);
  });

  it('lists community images only when asked, public ones always', async () => {
    const community = await create(alice, { name: 'comm', visibility: 'community' });
    const pub = await create(admin, { name: 'pub', visibility: 'public' });
    const ids = async (query: string) =>
      ((await (await api(bob, `/v2/images${query}`)).json()).images as { id: string }[]).map((i) => i.id);
    expect(await ids('')).toContain(pub.id);
    expect(await ids('')).not.toContain(community.id);
    expect(await ids('?visibility=community')).toEqual([community.id]);
    expect((await api(bob, `/v2/images/${community.id}`)).status).toBe(200);
    expect((await api(bob, `/v2/images/${community.id}`, { method: 'DELETE' })).status).toBe(403);
  });

  it('filters, sorts and pages with next links', async () => {
    const carol = h.token('carol');
    const names = ['n1', 'n2', 'n3', 'n4', 'n5'];
    for (const name of names)
      await create(carol, { name, tags: name === 'n2' || name === 'n4' ? ['even'] : [] });
    const seen: string[] = [];
    let next: string | undefined = '/v2/images?owner=carol&sort=name:asc&limit=2';
    let pages = 0;
    while (next) {
      const body: { images: { name: string }[]; next?: string; first: string; schema: string } = await (
        await api(carol, next)
      ).json();
      expect(body.schema).toBe('/v2/schemas/images');
      seen.push(...body.images.map((i) => i.name));
      next = body.next;
      pages++;
    }
    expect(seen).toEqual(names);
    expect(pages).toBe(3);
    const byTag = await (await api(carol, '/v2/images?tag=even&sort_key=name&sort_dir=desc')).json();
    expect((byTag.images as { name: string }[]).map((i) => i.name)).toEqual(['n4', 'n2']);
    const byName = await (await api(carol, '/v2/images?name=n3')).json();
    expect((byName.images as { name: string }[]).map((i) => i.name)).toEqual(['n3']);
    expect(byName.first).toBe('/v2/images?name=n3');
    expect((await api(carol, '/v2/images?sort=secret:asc')).status).toBe(400);
    expect((await api(carol, '/v2/images?limit=abc')).status).toBe(400);
    expect((await api(carol, '/v2/images?marker=00000000-0000-0000-0000-000000000000')).status).toBe(400);
  });

  it('publishes the image schemas with string additional properties', async () => {
    const image = await (await api(alice, '/v2/schemas/image')).json();
    expect(image.name).toBe('image');
    expect(image.additionalProperties).toEqual({ type: 'string' });
    expect(image.properties.disk_format.enum).toContain('qcow2');
    expect((await (await api(alice, '/v2/schemas/images')).json()).name).toBe('images');
    expect((await api(alice, '/v2/schemas/member')).status).toBe(200);
    expect((await api(alice, '/v2/info/import')).status).toBe(200);
  });
});
