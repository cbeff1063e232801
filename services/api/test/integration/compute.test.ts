import { randomUUID } from 'node:crypto';
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return --
   the API's JSON bodies are read field by field, as a client would. */
/**
 * The compute API over HTTP (port 0), on SQLite and a MemoryBus, with a fake scheduler and
 * agents answering on the bus: what openstackclient and openstacksdk rely on, field by field.
 */
import {
  eventually,
  IMAGE_ID,
  PRIVATE_IMAGE_ID,
  startComputeHarness,
  type ComputeHarness,
  callApi,
} from '../../src/compute/testing/harness';
import { OutboxRelay } from '../../src/compute/outbox.relay';
import { OutboxEntity } from '../../src/compute/store';

let h: ComputeHarness;

beforeAll(async () => {
  h = await startComputeHarness();
});

afterAll(async () => {
  await h.close();
});

const api = (
  token: string | null,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) => callApi(h, token, method, path, body, headers);

const mv = (v: string) => ({ 'OpenStack-API-Version': `compute ${v}` });

async function boot(token: string, name: string, extra: Record<string, unknown> = {}, headers = {}) {
  return api(
    token,
    'POST',
    '/servers',
    { server: { name, imageRef: IMAGE_ID, flavorRef: '1', ...extra } },
    headers,
  );
}

async function waitStatus(token: string, id: string, status: string) {
  return eventually(
    () => api(token, 'GET', `/servers/${id}`),
    (r) => r.status === 200 && r.body.server.status === status,
    `server ${id} ${status}`,
  );
}

async function bootActive(token: string, name: string, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await boot(token, name, extra);
  expect(res.status).toBe(202);
  await waitStatus(token, res.body.server.id, 'ACTIVE');
  return res.body.server.id as string;
}

describe('version discovery and microversions', () => {
  it('lists v2.0 and v2.1 at the root, and documents v2.1 with or without the slash', async () => {
    const root = await fetch(h.url.replace(/\/v2\.1$/, '/'));
    const doc = (await root.json()) as any;
    expect(doc.versions.map((v: any) => [v.id, v.status, v.version])).toEqual([
      ['v2.0', 'SUPPORTED', ''],
      ['v2.1', 'CURRENT', '2.93'],
    ]);
    for (const path of ['', '/']) {
      const res = await api(null, 'GET', path);
      expect(res.status).toBe(200);
      expect(res.body.version).toMatchObject({ id: 'v2.1', min_version: '2.1', version: '2.93' });
      expect(res.headers.get('openstack-api-version')).toBe('compute 2.1');
      expect(res.headers.get('x-openstack-nova-api-version')).toBe('2.1');
      expect(res.headers.get('vary')).toContain('X-OpenStack-Nova-API-Version');
      expect(res.headers.get('x-compute-request-id')).toBe(res.headers.get('x-openstack-request-id'));
    }
  });

  it("answers the negotiated version, 'latest' as 2.93, 406 beyond, 400 for garbage", async () => {
    const latest = await api(h.tokens.alice, 'GET', '/flavors', undefined, mv('latest'));
    expect(latest.headers.get('openstack-api-version')).toBe('compute 2.93');
    const legacy = await api(h.tokens.alice, 'GET', '/flavors', undefined, {
      'X-OpenStack-Nova-API-Version': '2.10',
    });
    expect(legacy.headers.get('x-openstack-nova-api-version')).toBe('2.10');
    const tooNew = await api(h.tokens.alice, 'GET', '/flavors', undefined, mv('2.94'));
    expect(tooNew.status).toBe(406);
    const bad = await api(h.tokens.alice, 'GET', '/flavors', undefined, mv('2.x'));
    expect(bad.status).toBe(400);
    expect(bad.body.badRequest.message).toContain('invalid format');
  });

  it('requires a token under /v2.1', async () => {
    expect((await api(null, 'GET', '/servers')).status).toBe(401);
  });

  it('answers 404, not 500, for an id that is not valid percent-encoding', async () => {
    for (const path of ['/servers/%ZZ', '/flavors/%E0%A4%A', '/os-keypairs/%ZZ', '/os-server-groups/%ZZ']) {
      const res = await api(h.tokens.alice, 'GET', path);
      expect({ path, status: res.status, body: res.body }).toEqual({
        path,
        status: 404,
        body: { itemNotFound: { code: 404, message: 'The resource could not be found.' } },
      });
    }
  });
});

describe('flavors', () => {
  it('seeds the classic m1 flavors, shown per microversion', async () => {
    const list = await api(h.tokens.alice, 'GET', '/flavors');
    expect(list.body.flavors.map((f: any) => f.name)).toEqual([
      'm1.tiny',
      'm1.small',
      'm1.medium',
      'm1.large',
      'm1.xlarge',
    ]);
    expect(Object.keys(list.body.flavors[0]).sort()).toEqual(['id', 'links', 'name']);
    const old = await api(h.tokens.alice, 'GET', '/flavors/1');
    expect(old.body.flavor).toMatchObject({ id: '1', ram: 512, disk: 1, vcpus: 1, swap: '', rxtx_factor: 1 });
    expect(old.body.flavor).not.toHaveProperty('extra_specs');
    const detail = await api(h.tokens.alice, 'GET', '/flavors/detail?is_public=None', undefined, mv('2.75'));
    expect(detail.body.flavors[0]).toMatchObject({ swap: 0, description: null, extra_specs: {} });
    expect(detail.body.flavors[0].links[0].href).toMatch(/\/v2\.1\/flavors\/1$/);
  });

  it("finds flavors by id only, 404 by name with Nova's message", async () => {
    const res = await api(h.tokens.alice, 'GET', '/flavors/m1.tiny');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ itemNotFound: { code: 404, message: 'Flavor m1.tiny could not be found.' } });
  });

  it('lets only admins create and delete flavors', async () => {
    const body = { flavor: { name: 'x.member', ram: 256, vcpus: 1, disk: 1 } };
    const refused = await api(h.tokens.alice, 'POST', '/flavors', body);
    expect(refused.status).toBe(403);
    expect(refused.body.forbidden.message).toContain('os-flavor-manage:create');
    const created = await api(h.tokens.admin, 'POST', '/flavors', { flavor: { ...body.flavor, id: 'xm' } });
    expect(created.status).toBe(200);
    expect(created.body.flavor).toMatchObject({
      id: 'xm',
      name: 'x.member',
      'os-flavor-access:is_public': true,
    });
    expect(
      (await api(h.tokens.admin, 'POST', '/flavors', { flavor: { ...body.flavor, id: 'xm2' } })).status,
    ).toBe(409);
    expect((await api(h.tokens.alice, 'DELETE', '/flavors/xm')).status).toBe(403);
    expect((await api(h.tokens.admin, 'DELETE', '/flavors/xm')).status).toBe(202);
    expect((await api(h.tokens.alice, 'GET', '/flavors/xm')).status).toBe(404);
  });

  it('hides private flavors until a project is given access', async () => {
    const created = await api(h.tokens.admin, 'POST', '/flavors', {
      flavor: {
        name: 'private.one',
        ram: 128,
        vcpus: 1,
        disk: 0,
        id: 'priv1',
        'os-flavor-access:is_public': false,
      },
    });
    expect(created.body.flavor['os-flavor-access:is_public']).toBe(false);
    expect((await api(h.tokens.alice, 'GET', '/flavors/priv1')).status).toBe(404);
    const added = await api(h.tokens.admin, 'POST', '/flavors/priv1/action', {
      addTenantAccess: { tenant: h.projects.alice },
    });
    expect(added.body.flavor_access).toEqual([{ flavor_id: 'priv1', tenant_id: h.projects.alice }]);
    expect((await api(h.tokens.alice, 'GET', '/flavors/priv1')).status).toBe(200);
    expect((await api(h.tokens.bob, 'GET', '/flavors/priv1')).status).toBe(404);
    const list = await api(h.tokens.alice, 'GET', '/flavors');
    expect(list.body.flavors.map((f: any) => f.id)).toContain('priv1');
    await api(h.tokens.admin, 'POST', '/flavors/priv1/action', {
      removeTenantAccess: { tenant: h.projects.alice },
    });
    expect((await api(h.tokens.alice, 'GET', '/flavors/priv1')).status).toBe(404);
    const unknown = await api(h.tokens.admin, 'POST', '/flavors/priv1/action', {
      addTenantAccess: { tenant: 'no-such-project' },
    });
    expect(unknown.body).toEqual({
      badRequest: { code: 400, message: 'Project ID no-such-project is not a valid project.' },
    });
    const member = await api(h.tokens.alice, 'POST', '/flavors/priv1/action', {
      addTenantAccess: { tenant: 'no-such-project' },
    });
    expect(member.status).toBe(403);
  });

  it('manages extra_specs (admin writes, everyone reads)', async () => {
    expect(
      (await api(h.tokens.alice, 'POST', '/flavors/2/os-extra_specs', { extra_specs: { a: '1' } })).status,
    ).toBe(403);
    const set = await api(h.tokens.admin, 'POST', '/flavors/2/os-extra_specs', {
      extra_specs: { 'hw:cpu_policy': 'shared', 'capabilities:hypervisor_type': 'QEMU' },
    });
    expect(set.status).toBe(200);
    expect((await api(h.tokens.alice, 'GET', '/flavors/2/os-extra_specs/hw:cpu_policy')).body).toEqual({
      'hw:cpu_policy': 'shared',
    });
    const put = await api(h.tokens.admin, 'PUT', '/flavors/2/os-extra_specs/hw:cpu_policy', {
      'hw:cpu_policy': 'dedicated',
    });
    expect(put.body).toEqual({ 'hw:cpu_policy': 'dedicated' });
    expect((await api(h.tokens.admin, 'DELETE', '/flavors/2/os-extra_specs/hw:cpu_policy')).status).toBe(200);
    expect((await api(h.tokens.alice, 'GET', '/flavors/2/os-extra_specs')).body).toEqual({
      extra_specs: { 'capabilities:hypervisor_type': 'QEMU' },
    });
    expect((await api(h.tokens.admin, 'DELETE', '/flavors/2/os-extra_specs/nope')).status).toBe(404);
  });

  it('shows a flavor as changed at once (its cached copy goes with the change)', async () => {
    const v = { 'OpenStack-API-Version': 'compute 2.61' };
    await api(h.tokens.admin, 'GET', '/flavors/3', undefined, v); // cached
    const put = await api(h.tokens.admin, 'PUT', '/flavors/3', { flavor: { description: 'renamed' } }, v);
    expect(put.status).toBe(200);
    expect((await api(h.tokens.admin, 'GET', '/flavors/3', undefined, v)).body.flavor.description).toBe(
      'renamed',
    );
    await api(h.tokens.admin, 'POST', '/flavors/3/os-extra_specs', {
      extra_specs: { 'quota:cpu_shares': '7' },
    });
    expect(
      (await api(h.tokens.admin, 'GET', '/flavors/3', undefined, v)).body.flavor.extra_specs,
    ).toMatchObject({
      'quota:cpu_shares': '7',
    });
  });
});

describe('server boot', () => {
  it('answers 202 at once and reaches ACTIVE through the scheduler and an agent', async () => {
    const res = await boot(h.tokens.alice, 'vm-boot', {
      metadata: { role: 'web' },
      user_data: 'IyEvYmluL3NoCg==',
    });
    expect(res.status).toBe(202);
    const id = res.body.server.id;
    expect(res.body.server).toEqual({
      id,
      links: [
        { rel: 'self', href: `http://127.0.0.1:8774/v2.1/servers/${id}` },
        { rel: 'bookmark', href: `http://127.0.0.1:8774/servers/${id}` },
      ],
      'OS-DCF:diskConfig': 'MANUAL',
      security_groups: [{ name: 'default' }],
      adminPass: expect.stringMatching(/^\w{12}$/),
    });
    expect(res.headers.get('location')).toBe(`http://127.0.0.1:8774/v2.1/servers/${id}`);

    const active = await waitStatus(h.tokens.alice, id, 'ACTIVE');
    const s = active.body.server;
    expect(s).toMatchObject({
      name: 'vm-boot',
      tenant_id: h.projects.alice,
      user_id: 'u-alice',
      metadata: { role: 'web' },
      image: { id: IMAGE_ID },
      flavor: { id: '1' },
      addresses: {},
      progress: 0,
      'OS-EXT-STS:vm_state': 'active',
      'OS-EXT-STS:task_state': null,
      'OS-EXT-STS:power_state': 1,
      'OS-EXT-AZ:availability_zone': 'nova',
      key_name: null,
    });
    expect(s.hostId).toMatch(/^[0-9a-f]{56}$/);
    expect(s['OS-SRV-USG:launched_at']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
    expect(s.created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(s).not.toHaveProperty('OS-EXT-SRV-ATTR:host');

    const sent = h.back.scheduled.find((m) => m.instance_id === id)!;
    expect(sent).toMatchObject({
      project_id: h.projects.alice,
      display_name: 'vm-boot',
      flavor: { id: '1', vcpus: 1, ram_mb: 512, disk_gb: 1 },
      image: { id: IMAGE_ID, name: 'tiny-qcow2' },
      user_data: 'IyEvYmluL3NoCg==',
      attempt: 1,
      server_group: null,
    });

    const asAdmin = await api(h.tokens.admin, 'GET', `/servers/${id}`, undefined, mv('2.92'));
    expect(asAdmin.body.server).toMatchObject({
      'OS-EXT-SRV-ATTR:host': h.back.placement.get(id),
      'OS-EXT-SRV-ATTR:hypervisor_hostname': h.back.placement.get(id),
      'OS-EXT-SRV-ATTR:instance_name': `instance-${id}`,
      'OS-EXT-SRV-ATTR:user_data': 'IyEvYmluL3NoCg==',
      host_status: 'UP',
      locked: false,
      description: 'vm-boot',
      tags: [],
      server_groups: [],
      flavor: {
        vcpus: 1,
        ram: 512,
        disk: 1,
        ephemeral: 0,
        swap: 0,
        original_name: 'm1.tiny',
        extra_specs: {},
      },
    });
  });

  it('hands the committed schedule message to the relay, which sends it without reading the outbox', async () => {
    const offer = jest.spyOn(OutboxRelay.prototype, 'offer');
    const find = jest.spyOn(h.compute.db.getRepository(OutboxEntity), 'find');
    try {
      const res = await boot(h.tokens.alice, 'vm-handed');
      expect(res.status).toBe(202);
      const id = res.body.server.id as string;
      await waitStatus(h.tokens.alice, id, 'ACTIVE');
      const handed = offer.mock.calls.flatMap(([rows]) => rows).filter((r) => r.payload.instance_id === id);
      expect(handed).toEqual([
        expect.objectContaining({ messageType: 'scheduler.schedule_instance', seq: expect.any(Number) }),
      ]);
      expect(handed[0]!.seq).toBeGreaterThan(0);
      // Passes that read the table (the relay's timer, other writers' kicks) never met it.
      const read = (
        await Promise.all(find.mock.results.map((r) => r.value as Promise<{ seq: number }[]>))
      ).flat();
      expect(read.map((r) => r.seq)).not.toContain(handed[0]!.seq);
      expect(await h.compute.db.getRepository(OutboxEntity).countBy({ seq: handed[0]!.seq })).toBe(0); // sent, then removed
    } finally {
      offer.mockRestore();
      find.mockRestore();
    }
  });

  it('sets the description to the name before 2.19, like Nova', async () => {
    const res = await boot(h.tokens.alice, 'legacy-desc');
    const show = await api(h.tokens.alice, 'GET', `/servers/${res.body.server.id}`, undefined, mv('2.19'));
    expect(show.body.server.description).toBe('legacy-desc');
  });

  it('goes to ERROR with the fault when no host is valid', async () => {
    h.back.hostsAvailable = false;
    try {
      const res = await boot(h.tokens.alice, 'vm-novalid');
      const err = await waitStatus(h.tokens.alice, res.body.server.id, 'ERROR');
      expect(err.body.server.fault).toMatchObject({
        code: 500,
        message: expect.stringContaining('No valid host was found'),
      });
      expect(err.body.server.fault).not.toHaveProperty('details');
    } finally {
      h.back.hostsAvailable = true;
    }
  });

  it('stores names with XML metacharacters as given', async () => {
    const name = `<domain type='kvm'>&amp;"x"</domain>`;
    const res = await boot(h.tokens.alice, name);
    expect(res.status).toBe(202);
    expect((await api(h.tokens.alice, 'GET', `/servers/${res.body.server.id}`)).body.server.name).toBe(name);
  });

  it.each([
    ['malformed JSON', '{"server": ', 'badRequest'],
    ['no server', { nothing: 1 }, 'badRequest'],
    [
      'a 10 KiB name',
      { server: { name: 'x'.repeat(10240), imageRef: IMAGE_ID, flavorRef: '1' } },
      'badRequest',
    ],
    ['a blank name', { server: { name: '  ', imageRef: IMAGE_ID, flavorRef: '1' } }, 'badRequest'],
    [
      'min_count above max_count',
      { server: { name: 'a', imageRef: IMAGE_ID, flavorRef: '1', min_count: 3, max_count: 2 } },
      'badRequest',
    ],
    [
      'user_data that is not base64',
      { server: { name: 'a', imageRef: IMAGE_ID, flavorRef: '1', user_data: '!!' } },
      'badRequest',
    ],
  ])('refuses %s with 400', async (_what, body, fault) => {
    const res = await api(h.tokens.alice, 'POST', '/servers', body);
    expect(res.status).toBe(400);
    expect(res.body[fault].code).toBe(400);
  });

  it("refuses unknown flavors, images and key pairs with Nova's 400 messages", async () => {
    const flavor = await boot(h.tokens.alice, 'a', { flavorRef: '999' });
    expect(flavor.body).toEqual({ badRequest: { code: 400, message: 'Invalid flavorRef provided.' } });
    const image = await boot(h.tokens.alice, 'a', { imageRef: '00000000-0000-4000-8000-000000000000' });
    expect(image.body).toEqual({ badRequest: { code: 400, message: 'Can not find requested image' } });
    const other = await boot(h.tokens.alice, 'a', { imageRef: PRIVATE_IMAGE_ID });
    expect(other.body).toEqual({ badRequest: { code: 400, message: 'Can not find requested image' } });
    const key = await boot(h.tokens.alice, 'a', { key_name: 'nope' });
    expect(key.body.badRequest.message).toBe('Invalid key_name provided.');
  });

  it('takes an adminPass of any length, and never repeats a password or user data in a fault', async () => {
    const long = await boot(h.tokens.alice, 'long-pass', { adminPass: 'p'.repeat(300) });
    expect(long.status).toBe(202);
    expect(long.body.server.adminPass).toBe('p'.repeat(300));
    const secret = 'not base64: my-secret-token';
    const data = await boot(h.tokens.alice, 'bad-data', { user_data: secret });
    expect(data.status).toBe(400);
    expect(data.body.badRequest.message).toContain('user_data');
    expect(JSON.stringify(data.body)).not.toContain('my-secret-token');
    const pass = await boot(h.tokens.alice, 'bad-pass', { adminPass: { secret: 'my-secret-pass' } });
    expect(pass.status).toBe(400);
    expect(JSON.stringify(pass.body)).not.toContain('my-secret-pass');
  });

  it('answers a body nested too deep to print with a 400, not a 500', async () => {
    const deep = '{"server":{"name":' + '['.repeat(20000) + ']'.repeat(20000) + '}}';
    const res = await api(h.tokens.alice, 'POST', '/servers', deep);
    expect(res.status).toBe(400);
    expect(res.body.badRequest.code).toBe(400);
  });

  it('refuses names and descriptions with characters Nova does not count as printable', async () => {
    for (const name of ['a\u0085b', 'zero\u200bwidth', 'line\u2028sep', 'private\ue000', 'smile \u{1F600}']) {
      const res = await boot(h.tokens.alice, name);
      expect({ name, status: res.status }).toEqual({ name, status: 400 });
    }
    const desc = await boot(h.tokens.alice, 'd', { description: 'tab\there' }, mv('2.19'));
    expect(desc.status).toBe(400);
    const ok = await boot(h.tokens.alice, '日本語 ü <x>&', { description: 'fine, with spaces' }, mv('2.19'));
    expect(ok.status).toBe(202);
    expect((await api(h.tokens.alice, 'DELETE', `/servers/${ok.body.server.id}`)).status).toBe(204);
  });

  it("refuses fields Nova's schema does not know at the version, so no hint or typo is silently dropped", async () => {
    const unexpected = (key: string) => `Additional properties are not allowed ('${key}' was unexpected)`;
    const inside = await boot(h.tokens.alice, 'h', { 'os:scheduler_hints': { group: 'g' } });
    expect(inside.status).toBe(400);
    expect(inside.body.badRequest.message).toContain(unexpected('os:scheduler_hints'));
    const top = await api(h.tokens.alice, 'POST', '/servers', {
      server: { name: 't', imageRef: IMAGE_ID, flavorRef: '1' },
      bogus: 1,
    });
    expect(top.body.badRequest.message).toContain(unexpected('bogus'));
    expect((await boot(h.tokens.alice, 'd', { description: 'x' }, mv('2.1'))).status).toBe(400);
    expect((await boot(h.tokens.alice, 'p', { personality: [] }, mv('2.57'))).status).toBe(400);
    expect((await boot(h.tokens.alice, 'hn', { hostname: 'x' }, mv('2.89'))).status).toBe(400);
  });

  it('renames and sets access addresses with PUT; refuses fields Nova does not take there', async () => {
    const id = await bootActive(h.tokens.admin, 'put-me');
    const put = await api(h.tokens.admin, 'PUT', `/servers/${id}`, {
      server: { name: 'put-me-2', accessIPv4: '192.0.2.7' },
    });
    expect(put.body.server).toMatchObject({ name: 'put-me-2', accessIPv4: '192.0.2.7' });
    const bad = await api(h.tokens.admin, 'PUT', `/servers/${id}`, { server: { accessIPv4: 'nope' } });
    expect(bad.status).toBe(400);
    const early = await api(
      h.tokens.admin,
      'PUT',
      `/servers/${id}`,
      { server: { hostname: 'h' } },
      mv('2.1'),
    );
    expect(early.status).toBe(400);
    expect((await api(h.tokens.admin, 'DELETE', `/servers/${id}`)).status).toBe(204);
  });

  it("refuses a zone no enabled host is in with Nova's 400, and takes one that is", async () => {
    const none = await boot(h.tokens.alice, 'nowhere', { availability_zone: 'nowhere' });
    expect(none.body).toEqual({
      badRequest: { code: 400, message: 'The requested availability zone is not available' },
    });
    const ok = await boot(h.tokens.alice, 'in-nova', { availability_zone: 'nova' });
    expect(ok.status).toBe(202);
    expect((await api(h.tokens.alice, 'DELETE', `/servers/${ok.body.server.id}`)).status).toBe(204);
  });

  it("refuses a kernel_id or ramdisk_id naming an image the caller may not use (another project's, or not a kernel)", async () => {
    const bobsKernel = randomUUID();
    const publicKernel = randomUUID();
    const publicRamdisk = randomUUID();
    h.images
      .add({ id: bobsKernel, disk_format: 'aki', container_format: 'aki', owner: h.projects.bob })
      .add({ id: publicKernel, disk_format: 'aki', container_format: 'aki' })
      .add({ id: publicRamdisk, disk_format: 'ari', container_format: 'ari' });
    const withFiles = (kernel: string, ramdisk?: string) => {
      const id = randomUUID();
      h.images.add({
        id,
        owner: h.projects.alice,
        properties: { kernel_id: kernel, ...(ramdisk ? { ramdisk_id: ramdisk } : {}) },
      });
      return id;
    };
    const stolen = await boot(h.tokens.alice, 'k', { imageRef: withFiles(bobsKernel) });
    expect(stolen.status).toBe(400);
    expect(stolen.body.badRequest.message).toBe('Can not find requested image');
    const wrongKind = await boot(h.tokens.alice, 'k', { imageRef: withFiles(publicKernel, publicKernel) });
    expect(wrongKind.status).toBe(400);
    expect(wrongKind.body.badRequest.message).toContain('is not an ari image');
    const fine = await boot(h.tokens.alice, 'k', { imageRef: withFiles(publicKernel, publicRamdisk) });
    expect(fine.status).toBe(202);
  });
});

describe('server list, show and paging', () => {
  let ids: string[];

  beforeAll(async () => {
    const res = await boot(h.tokens.bob, 'pager', { max_count: 3 });
    expect(res.status).toBe(202);
    const list = await eventually(
      () => api(h.tokens.bob, 'GET', '/servers/detail?name=^pager-'),
      (r) => r.body.servers.length === 3 && r.body.servers.every((s: any) => s.status === 'ACTIVE'),
      'three pager servers ACTIVE',
    );
    ids = list.body.servers.map((s: any) => s.id);
  });

  it('names multi-created servers name-1..n, newest first', async () => {
    const list = await api(h.tokens.bob, 'GET', '/servers?name=pager');
    expect(list.body.servers.map((s: any) => s.name)).toEqual(['pager-3', 'pager-2', 'pager-1']);
    expect(Object.keys(list.body.servers[0]).sort()).toEqual(['id', 'links', 'name']);
  });

  it('gives the servers of one request one reservation id, r- and 8 hex digits, new for each request', async () => {
    const first = await boot(h.tokens.admin, 'resv', { max_count: 2, return_reservation_id: true });
    expect(first.status).toBe(202);
    expect(first.body.reservation_id).toMatch(/^r-[0-9a-f]{8}$/);
    const second = await boot(h.tokens.admin, 'resv-other', { return_reservation_id: true });
    expect(second.body.reservation_id).toMatch(/^r-[0-9a-f]{8}$/);
    expect(second.body.reservation_id).not.toBe(first.body.reservation_id);
    const list = await api(h.tokens.admin, 'GET', '/servers/detail?name=^resv-[0-9]', undefined, mv('2.3'));
    expect(list.body.servers.map((s: any) => s['OS-EXT-SRV-ATTR:reservation_id'])).toEqual([
      first.body.reservation_id,
      first.body.reservation_id,
    ]);
  });

  it('pages with limit and marker and gives a next link', async () => {
    const first = await api(h.tokens.bob, 'GET', '/servers?name=pager&limit=2');
    expect(first.body.servers.map((s: any) => s.id)).toEqual(ids.slice(0, 2));
    const next = new URL(first.body.servers_links[0].href);
    expect(next.searchParams.get('marker')).toBe(ids[1]);
    expect(next.searchParams.get('name')).toBe('pager');
    const second = await api(h.tokens.bob, 'GET', `/servers?${next.searchParams.toString()}`);
    expect(second.body.servers.map((s: any) => s.id)).toEqual([ids[2]]);
    expect(second.body).not.toHaveProperty('servers_links');
    expect((await api(h.tokens.bob, 'GET', '/servers?marker=nope')).status).toBe(400);
  });

  it('refuses a name filter that would not finish, and answers other requests meanwhile; limit=0 is empty', async () => {
    const res = await boot(h.tokens.alice, `${'a'.repeat(40)}!`);
    expect(res.status).toBe(202);
    const [stuck, other] = await Promise.all([
      api(h.tokens.alice, 'GET', `/servers?name=${encodeURIComponent('^(a+)+$')}`),
      api(h.tokens.bob, 'GET', '/servers?name=pager'),
    ]);
    expect(stuck.status).toBe(400);
    expect(stuck.body.badRequest.message).toMatch(
      /^Invalid input for query parameters name: matching took longer/,
    );
    expect(other.body.servers).toHaveLength(3);
    expect((await api(h.tokens.bob, 'GET', '/servers?limit=0')).body).toEqual({ servers: [] });
    expect((await api(h.tokens.alice, 'DELETE', `/servers/${res.body.server.id}`)).status).toBe(204);
  });

  it('filters by status, image, flavor and changes-since', async () => {
    const count = async (q: string) =>
      (await api(h.tokens.bob, 'GET', `/servers?name=pager&${q}`)).body.servers.length;
    expect(await count('status=ACTIVE')).toBe(3);
    expect(await count('status=SHUTOFF')).toBe(0);
    expect(await count('status=NOSUCH')).toBe(0);
    const strict = await api(h.tokens.bob, 'GET', '/servers?status=NOSUCH', undefined, mv('2.38'));
    expect(strict.body).toEqual({ badRequest: { code: 400, message: 'Invalid status value' } });
    expect(await count(`image=${IMAGE_ID}`)).toBe(3);
    expect(await count('flavor=2')).toBe(0);
    expect(await count('changes-since=2999-01-01T00:00:00Z')).toBe(0);
    expect(await count('changes-since=2000-01-01T00:00:00Z')).toBe(3);
    expect((await api(h.tokens.bob, 'GET', '/servers?changes-since=garbage')).status).toBe(400);
  });

  it("keeps projects apart: another project's server is 404, all_tenants is for admins", async () => {
    expect((await api(h.tokens.alice, 'GET', `/servers/${ids[0]}`)).status).toBe(404);
    expect((await api(h.tokens.alice, 'GET', `/servers/${ids[0]}`)).body.itemNotFound.message).toBe(
      `Instance ${ids[0]} could not be found.`,
    );
    expect((await api(h.tokens.alice, 'POST', `/servers/${ids[0]}/action`, { 'os-stop': null })).status).toBe(
      404,
    );
    expect((await api(h.tokens.alice, 'DELETE', `/servers/${ids[0]}`)).status).toBe(404);
    const member = await api(h.tokens.alice, 'GET', '/servers?name=pager&all_tenants=1');
    expect(member.body).toEqual({
      forbidden: {
        code: 403,
        message: "Policy doesn't allow os_compute_api:servers:index:get_all_tenants to be performed.",
      },
    });
    expect((await api(h.tokens.alice, 'GET', '/servers?name=pager')).body.servers).toEqual([]);
    const admin = await api(h.tokens.admin, 'GET', '/servers?name=pager&all_tenants=1');
    expect(admin.body.servers).toHaveLength(3);
    expect((await api(h.tokens.admin, 'GET', '/servers?name=pager')).body.servers).toHaveLength(0);
  });

  it('renames with PUT', async () => {
    const res = await api(h.tokens.bob, 'PUT', `/servers/${ids[2]}`, { server: { name: 'pager-renamed' } });
    expect(res.status).toBe(200);
    expect(res.body.server.name).toBe('pager-renamed');
  });
});

describe('server actions', () => {
  let id: string;

  beforeAll(async () => {
    id = await bootActive(h.tokens.alice, 'vm-actions');
  });

  it('stops (202, SHUTOFF), refuses a second stop with 409, starts again', async () => {
    const stop = await api(h.tokens.alice, 'POST', `/servers/${id}/action`, { 'os-stop': null });
    expect(stop.status).toBe(202);
    expect(stop.body).toBeNull();
    const off = await waitStatus(h.tokens.alice, id, 'SHUTOFF');
    expect(off.body.server['OS-EXT-STS:power_state']).toBe(4);
    expect(off.body.server).not.toHaveProperty('progress');
    const again = await api(h.tokens.alice, 'POST', `/servers/${id}/action`, { 'os-stop': null });
    expect(again.status).toBe(409);
    expect(again.body.conflictingRequest.message).toBe(
      `Cannot 'stop' instance ${id} while it is in vm_state stopped`,
    );
    const soft = await api(h.tokens.alice, 'POST', `/servers/${id}/action`, { reboot: { type: 'SOFT' } });
    expect(soft.status).toBe(409);
    expect((await api(h.tokens.alice, 'POST', `/servers/${id}/action`, { 'os-start': null })).status).toBe(
      202,
    );
    await waitStatus(h.tokens.alice, id, 'ACTIVE');
    expect((await api(h.tokens.alice, 'POST', `/servers/${id}/action`, { 'os-start': null })).status).toBe(
      409,
    );
  });

  it('reboots soft and hard through the host', async () => {
    expect(
      (await api(h.tokens.alice, 'POST', `/servers/${id}/action`, { reboot: { type: 'SOFT' } })).status,
    ).toBe(202);
    await waitStatus(h.tokens.alice, id, 'ACTIVE');
    expect(
      (await api(h.tokens.alice, 'POST', `/servers/${id}/action`, { reboot: { type: 'HARD' } })).status,
    ).toBe(202);
    await eventually(
      async () => h.back.casts.filter((c) => c.instanceId === id).map((c) => c.type),
      (types) => types.includes('reboot_SOFT') && types.includes('reboot_HARD'),
    );
    expect(
      (await api(h.tokens.alice, 'POST', `/servers/${id}/action`, { reboot: { type: 'WARM' } })).status,
    ).toBe(400);
  });

  it('returns the console output from the host', async () => {
    await waitStatus(h.tokens.alice, id, 'ACTIVE');
    const res = await api(h.tokens.alice, 'POST', `/servers/${id}/action`, {
      'os-getConsoleOutput': { length: 10 },
    });
    expect(res.status).toBe(200);
    expect(res.body.output).toContain(`console of ${id}`);
  });

  it('refuses unknown actions with 400', async () => {
    const res = await api(h.tokens.alice, 'POST', `/servers/${id}/action`, { frobnicate: {} });
    expect(res.body).toEqual({ badRequest: { code: 400, message: 'There is no such action: frobnicate' } });
  });

  it('manages server metadata', async () => {
    await waitStatus(h.tokens.alice, id, 'ACTIVE');
    expect(
      (await api(h.tokens.alice, 'PUT', `/servers/${id}/metadata`, { metadata: { a: '1', b: '2' } })).body,
    ).toEqual({
      metadata: { a: '1', b: '2' },
    });
    expect(
      (await api(h.tokens.alice, 'POST', `/servers/${id}/metadata`, { metadata: { c: '3' } })).body.metadata,
    ).toEqual({
      a: '1',
      b: '2',
      c: '3',
    });
    expect(
      (await api(h.tokens.alice, 'PUT', `/servers/${id}/metadata/a`, { meta: { a: '9' } })).body,
    ).toEqual({ meta: { a: '9' } });
    expect((await api(h.tokens.alice, 'GET', `/servers/${id}/metadata/a`)).body).toEqual({
      meta: { a: '9' },
    });
    expect((await api(h.tokens.alice, 'DELETE', `/servers/${id}/metadata/b`)).status).toBe(204);
    expect((await api(h.tokens.alice, 'GET', `/servers/${id}/metadata/b`)).status).toBe(404);
    expect((await api(h.tokens.alice, 'PUT', `/servers/${id}/metadata/a`, { meta: { z: '1' } })).status).toBe(
      400,
    );
  });

  it('deletes through the host (204), idempotently, then 404', async () => {
    expect((await api(h.tokens.alice, 'DELETE', `/servers/${id}`)).status).toBe(204);
    const again = await api(h.tokens.alice, 'DELETE', `/servers/${id}`);
    expect([204, 404]).toContain(again.status);
    await eventually(
      () => api(h.tokens.alice, 'GET', `/servers/${id}`),
      (r) => r.status === 404,
      'server gone',
    );
    expect(h.back.casts.some((c) => c.instanceId === id && c.type === 'delete')).toBe(true);
    const changed = await api(
      h.tokens.alice,
      'GET',
      '/servers/detail?changes-since=2000-01-01T00:00:00Z&name=vm-actions',
    );
    expect(changed.body.servers[0]).toMatchObject({ id, status: 'DELETED' });
    expect(changed.body.servers[0]['OS-SRV-USG:terminated_at']).not.toBeNull();
  });

  it('deletes a server that never reached a host at once and releases its claim', async () => {
    h.back.hostsAvailable = false;
    try {
      const res = await boot(h.tokens.alice, 'vm-unplaced');
      const sid = res.body.server.id;
      await waitStatus(h.tokens.alice, sid, 'ERROR');
      expect((await api(h.tokens.alice, 'DELETE', `/servers/${sid}`)).status).toBe(204);
      expect((await api(h.tokens.alice, 'GET', `/servers/${sid}`)).status).toBe(404);
      await eventually(
        async () => h.back.released,
        (r) => r.includes(sid),
        'claim released',
      );
    } finally {
      h.back.hostsAvailable = true;
    }
  });
});

describe('quotas and limits', () => {
  it('shows Nova-shaped limits and quota sets', async () => {
    const limits = await api(h.tokens.bob, 'GET', '/limits');
    expect(limits.body.limits.rate).toEqual([]);
    expect(limits.body.limits.absolute).toMatchObject({
      maxTotalInstances: 10,
      maxTotalCores: 20,
      maxTotalRAMSize: 51200,
      maxTotalKeypairs: 100,
      totalInstancesUsed: 3,
      totalCoresUsed: 3,
      totalRAMUsed: 1536,
    });
    const quota = await api(h.tokens.bob, 'GET', `/os-quota-sets/${h.projects.bob}`);
    expect(quota.body.quota_set).toMatchObject({
      id: h.projects.bob,
      instances: 10,
      cores: 20,
      ram: 51200,
      fixed_ips: -1,
    });
    expect((await api(h.tokens.bob, 'GET', `/os-quota-sets/${h.projects.alice}`)).status).toBe(403);
    const detail = await api(h.tokens.bob, 'GET', `/os-quota-sets/${h.projects.bob}/detail`);
    expect(detail.body.quota_set.instances).toEqual({ in_use: 3, limit: 10, reserved: 0 });
  });

  it("refuses a boot over quota with 403 and Nova's message; only admins change quotas", async () => {
    expect(
      (await api(h.tokens.bob, 'PUT', `/os-quota-sets/${h.projects.bob}`, { quota_set: { instances: 3 } }))
        .status,
    ).toBe(403);
    const set = await api(h.tokens.admin, 'PUT', `/os-quota-sets/${h.projects.bob}`, {
      quota_set: { instances: 3 },
    });
    expect(set.body.quota_set.instances).toBe(3);
    const over = await boot(h.tokens.bob, 'one-too-many');
    expect(over.status).toBe(403);
    expect(over.body).toEqual({
      forbidden: {
        code: 403,
        message: 'Quota exceeded for instances: Requested 1, but already used 3 of 3 instances',
      },
    });
    expect((await api(h.tokens.admin, 'DELETE', `/os-quota-sets/${h.projects.bob}`)).status).toBe(202);
    expect(
      (await api(h.tokens.bob, 'GET', `/os-quota-sets/${h.projects.bob}`)).body.quota_set.instances,
    ).toBe(10);
  });

  it('checks a quota update as Nova does: not below what is in use unless forced, network keys only before 2.36', async () => {
    const put = (quota_set: Record<string, unknown>, version = '2.1') =>
      api(h.tokens.admin, 'PUT', `/os-quota-sets/${h.projects.bob}`, { quota_set }, mv(version));
    const below = await put({ instances: 2 });
    expect(below.body).toEqual({
      badRequest: {
        code: 400,
        message: 'Quota limit 2 for instances must be greater than or equal to already used and reserved 3.',
      },
    });
    expect((await put({ instances: 2, force: true })).body.quota_set.instances).toBe(2);
    expect((await put({ instances: 2 ** 31 })).status).toBe(400);
    const network = await put({ floating_ips: 5, security_groups: '4' });
    expect(network.body.quota_set).toMatchObject({ floating_ips: 5, security_groups: 4 });
    expect((await put({ floating_ips: 5 }, '2.36')).status).toBe(400);
    expect((await put({ injected_files: 1 }, '2.57')).status).toBe(400);
    const nobody = await api(h.tokens.admin, 'PUT', '/os-quota-sets/no-such-project', {
      quota_set: { instances: 5 },
    });
    expect(nobody.body).toEqual({
      badRequest: { code: 400, message: 'Project ID no-such-project is not a valid project.' },
    });
    const limits = await api(h.tokens.bob, 'GET', '/limits');
    expect(limits.body.limits.absolute.maxTotalFloatingIps).toBe(5);
    expect((await api(h.tokens.admin, 'DELETE', `/os-quota-sets/${h.projects.bob}`)).status).toBe(202);
  });

  it("refuses a member's limits of another project with 403, as Nova's policy does", async () => {
    const other = await api(h.tokens.bob, 'GET', `/limits?tenant_id=${h.projects.alice}`);
    expect(other.status).toBe(403);
    expect((await api(h.tokens.bob, 'GET', `/limits?tenant_id=${h.projects.bob}`)).status).toBe(200);
    const admin = await api(h.tokens.admin, 'GET', `/limits?tenant_id=${h.projects.bob}`);
    expect(admin.body.limits.absolute.totalInstancesUsed).toBe(3);
  });
});

describe('key pairs', () => {
  it('generates a key pair (201 with the private key once), lists, shows and deletes it', async () => {
    const created = await api(
      h.tokens.alice,
      'POST',
      '/os-keypairs',
      { keypair: { name: 'k1' } },
      mv('2.10'),
    );
    expect(created.status).toBe(201);
    expect(created.body.keypair).toMatchObject({
      name: 'k1',
      type: 'ssh',
      user_id: 'u-alice',
      private_key: expect.stringContaining('PRIVATE KEY'),
      public_key: expect.stringMatching(/^ssh-rsa /),
      fingerprint: expect.stringMatching(/^([0-9a-f]{2}:){15}[0-9a-f]{2}$/),
    });
    const list = await api(h.tokens.alice, 'GET', '/os-keypairs', undefined, mv('2.10'));
    expect(list.body.keypairs).toEqual([
      {
        keypair: {
          name: 'k1',
          public_key: created.body.keypair.public_key,
          fingerprint: created.body.keypair.fingerprint,
          type: 'ssh',
        },
      },
    ]);
    const show = await api(h.tokens.alice, 'GET', '/os-keypairs/k1');
    expect(show.body.keypair).not.toHaveProperty('private_key');
    expect((await api(h.tokens.bob, 'GET', '/os-keypairs/k1')).status).toBe(404);
    expect((await api(h.tokens.alice, 'POST', '/os-keypairs', { keypair: { name: 'k1' } })).status).toBe(409);
    expect((await api(h.tokens.alice, 'DELETE', '/os-keypairs/k1', undefined, mv('2.10'))).status).toBe(204);
    // From 2.35 key pairs page by name, with a next link on a full page.
    for (const name of ['kb', 'ka']) {
      expect((await api(h.tokens.alice, 'POST', '/os-keypairs', { keypair: { name } })).status).toBe(200);
    }
    const unknown = await api(h.tokens.alice, 'GET', '/os-keypairs?marker=nope', undefined, mv('2.35'));
    expect(unknown.body).toEqual({ badRequest: { code: 400, message: 'Marker nope could not be found.' } });
    const page = await api(h.tokens.alice, 'GET', '/os-keypairs?limit=1', undefined, mv('2.35'));
    expect(page.body.keypairs.map((k: any) => k.keypair.name)).toEqual(['ka']);
    const next = new URL(page.body.keypairs_links[0].href);
    expect(next.searchParams.get('marker')).toBe('ka');
    const rest = await api(h.tokens.alice, 'GET', `/os-keypairs${next.search}`, undefined, mv('2.35'));
    expect(rest.body.keypairs.map((k: any) => k.keypair.name)).toEqual(['kb']);
    // A full page links on even when nothing follows; the empty page after it does not.
    const end = new URL(rest.body.keypairs_links[0].href);
    const last = await api(h.tokens.alice, 'GET', `/os-keypairs${end.search}`, undefined, mv('2.35'));
    expect(last.body).toEqual({ keypairs: [] });
    for (const name of ['ka', 'kb']) {
      expect((await api(h.tokens.alice, 'DELETE', `/os-keypairs/${name}`)).status).toBe(202);
    }
    expect((await api(h.tokens.alice, 'GET', '/os-keypairs/k1')).status).toBe(404);
  });

  it('imports a public key, refuses garbage, and hands the key to the build', async () => {
    const pub = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me@laptop';
    const imported = await api(h.tokens.alice, 'POST', '/os-keypairs', {
      keypair: { name: 'mine', public_key: pub },
    });
    expect(imported.status).toBe(200);
    expect(imported.body.keypair).not.toHaveProperty('private_key');
    const bad = await api(h.tokens.alice, 'POST', '/os-keypairs', {
      keypair: { name: 'bad', public_key: 'hello' },
    });
    expect(bad.status).toBe(400);
    const res = await boot(h.tokens.alice, 'vm-key', { key_name: 'mine' });
    expect(res.status).toBe(202);
    const show = await api(h.tokens.alice, 'GET', `/servers/${res.body.server.id}`);
    expect(show.body.server.key_name).toBe('mine');
    await eventually(async () => h.back.scheduled.find((m) => m.instance_id === res.body.server.id), Boolean);
    expect(h.back.scheduled.find((m) => m.instance_id === res.body.server.id)!.key_data).toBe(pub);
  });
});

describe('server groups', () => {
  it('passes the group policy to the scheduler and spreads anti-affinity members', async () => {
    const group = await api(
      h.tokens.alice,
      'POST',
      '/os-server-groups',
      { server_group: { name: 'spread', policy: 'anti-affinity' } },
      mv('2.64'),
    );
    expect(group.status).toBe(200);
    const gid = group.body.server_group.id;
    expect(group.body.server_group).toMatchObject({
      name: 'spread',
      policy: 'anti-affinity',
      rules: {},
      members: [],
    });
    const m1 = (
      await api(h.tokens.alice, 'POST', '/servers', {
        server: { name: 'g-1', imageRef: IMAGE_ID, flavorRef: '1' },
        'os:scheduler_hints': { group: gid },
      })
    ).body.server.id;
    await waitStatus(h.tokens.alice, m1, 'ACTIVE');
    const m2 = (
      await api(h.tokens.alice, 'POST', '/servers', {
        server: { name: 'g-2', imageRef: IMAGE_ID, flavorRef: '1' },
        'os:scheduler_hints': { group: gid },
      })
    ).body.server.id;
    await waitStatus(h.tokens.alice, m2, 'ACTIVE');
    const sent = h.back.scheduled.find((m) => m.instance_id === m2)!;
    expect(sent.server_group).toEqual({
      id: gid,
      policy: 'anti-affinity',
      hosts: [h.back.placement.get(m1)],
    });
    expect(h.back.placement.get(m1)).not.toBe(h.back.placement.get(m2));
    const legacy = await api(h.tokens.alice, 'GET', `/os-server-groups/${gid}`);
    expect(legacy.body.server_group).toMatchObject({
      policies: ['anti-affinity'],
      members: [m1, m2],
      metadata: {},
    });
    expect((await api(h.tokens.bob, 'GET', `/os-server-groups/${gid}`)).status).toBe(404);
    const badHint = await api(h.tokens.bob, 'POST', '/servers', {
      server: { name: 'g-x', imageRef: IMAGE_ID, flavorRef: '1' },
      'os:scheduler_hints': { group: gid },
    });
    expect(badHint.status).toBe(400);
    expect((await api(h.tokens.alice, 'DELETE', `/os-server-groups/${gid}`)).status).toBe(204);
  });
});

describe("server groups: Nova's schema", () => {
  const create = (body: unknown, version = '2.64') =>
    api(h.tokens.alice, 'POST', '/os-server-groups', body, mv(version));

  it("takes max_server_per_host as a string of digits (openstackclient's form) and refuses unknown rules and fields", async () => {
    const ok = await create({
      server_group: { name: 'r', policy: 'anti-affinity', rules: { max_server_per_host: '2' } },
    });
    expect(ok.status).toBe(200);
    expect(ok.body.server_group.rules).toEqual({ max_server_per_host: 2 });
    const zero = await create({
      server_group: { name: 'r', policy: 'anti-affinity', rules: { max_server_per_host: '0' } },
    });
    expect(zero.status).toBe(400);
    const unknownRule = await create({
      server_group: { name: 'r', policy: 'anti-affinity', rules: { bogus: 1 } },
    });
    expect(unknownRule.status).toBe(400);
    const unknownField = await create({ server_group: { name: 'r', policy: 'affinity', colour: 'red' } });
    expect(unknownField.status).toBe(400);
    const soft = await create({ server_group: { name: 's', policies: ['soft-affinity'] } }, '2.14');
    expect(soft.status).toBe(400);
    expect((await create({ server_group: { name: 's', policies: ['soft-affinity'] } }, '2.15')).status).toBe(
      200,
    );
  });

  it('pages the list with limit and offset', async () => {
    const all = (await api(h.tokens.alice, 'GET', '/os-server-groups')).body.server_groups.map(
      (g: any) => g.id,
    );
    expect(all.length).toBeGreaterThanOrEqual(2);
    const page = await api(h.tokens.alice, 'GET', '/os-server-groups?limit=1&offset=1');
    expect(page.body.server_groups.map((g: any) => g.id)).toEqual([all[1]]);
    expect((await api(h.tokens.alice, 'GET', '/os-server-groups?limit=-1')).status).toBe(400);
  });
});

describe('keys of maps and names, as Nova checks them', () => {
  it('refuses metadata and extra spec keys outside letters, digits and -_:. and space', async () => {
    const id = await bootActive(h.tokens.admin, 'keys');
    const slash = await api(h.tokens.admin, 'POST', `/servers/${id}/metadata`, { metadata: { 'a/b': '1' } });
    expect(slash.status).toBe(400);
    expect(slash.body.badRequest.message).toContain("'a/b' was unexpected");
    const spec = await api(h.tokens.admin, 'POST', '/flavors/3/os-extra_specs', {
      extra_specs: { 'foo/bar': 'x' },
    });
    expect(spec.status).toBe(400);
    const bool = await api(h.tokens.admin, 'POST', '/flavors/3/os-extra_specs', {
      extra_specs: { foo: true },
    });
    expect(bool.status).toBe(400);
  });

  it('keeps __proto__ as a metadata key like any other, and finds no key through the prototype', async () => {
    const id = await bootActive(h.tokens.admin, 'proto');
    const set = await api(
      h.tokens.admin,
      'POST',
      `/servers/${id}/metadata`,
      '{"metadata":{"__proto__":"x","k":"v"}}',
    );
    expect(set.status).toBe(200);
    expect((await api(h.tokens.admin, 'GET', `/servers/${id}/metadata/__proto__`)).body).toEqual({
      meta: { ['__proto__']: 'x' },
    });
    for (const key of ['constructor', 'toString', 'hasOwnProperty']) {
      expect((await api(h.tokens.admin, 'GET', `/servers/${id}/metadata/${key}`)).status).toBe(404);
      expect((await api(h.tokens.admin, 'DELETE', `/servers/${id}/metadata/${key}`)).status).toBe(404);
    }
    expect((await api(h.tokens.admin, 'DELETE', `/servers/${id}/metadata/__proto__`)).status).toBe(204);
    expect((await api(h.tokens.admin, 'GET', `/servers/${id}/metadata`)).body).toEqual({
      metadata: { k: 'v' },
    });
    expect((await api(h.tokens.admin, 'DELETE', `/servers/${id}`)).status).toBe(204);
  });

  it("checks key pair names by Nova's pattern for the version, and refuses unknown fields", async () => {
    const key = (name: string, version: string, extra: Record<string, unknown> = {}) =>
      api(h.tokens.alice, 'POST', '/os-keypairs', { keypair: { name, ...extra } }, mv(version));
    expect((await key('dotted.name', '2.1')).status).toBe(400);
    expect((await key('a/b', '2.92', { public_key: 'ssh-ed25519 AAAA' })).status).toBe(400);
    expect((await key('plain-name', '2.1', { colour: 'red' })).status).toBe(400);
  });
});

describe('admin APIs', () => {
  it.each([
    '/os-hypervisors',
    '/os-hypervisors/detail',
    '/os-hypervisors/statistics',
    '/os-services',
    '/os-simple-tenant-usage',
  ])('%s is 403 for a member', async (path) => {
    const res = await api(h.tokens.alice, 'GET', path);
    expect(res.status).toBe(403);
    expect(res.body.forbidden.code).toBe(403);
  });

  it('lists hypervisors and statistics from the scheduler', async () => {
    const detail = await api(h.tokens.admin, 'GET', '/os-hypervisors/detail');
    expect(detail.body.hypervisors.map((x: any) => x.hypervisor_hostname)).toEqual(['node1', 'node2']);
    expect(detail.body.hypervisors[0]).toMatchObject({
      id: 1,
      state: 'up',
      status: 'enabled',
      hypervisor_type: 'QEMU',
      service: { id: 1, host: 'node1', disabled_reason: null },
      vcpus: 8,
      cpu_info: '{"arch": "x86_64"}',
    });
    const stats = await api(h.tokens.admin, 'GET', '/os-hypervisors/statistics');
    expect(stats.body.hypervisor_statistics).toMatchObject({ count: 2, vcpus: 16, memory_mb: 32768 });
  });

  it('pages hypervisors from 2.33, and from 2.53 filters them by hostname pattern and lists their servers', async () => {
    const page = await api(h.tokens.admin, 'GET', '/os-hypervisors?limit=1', undefined, mv('2.33'));
    expect(page.body.hypervisors.map((x: any) => x.id)).toEqual([1]);
    const next = new URL(page.body.hypervisors_links[0].href);
    expect(next.searchParams.get('marker')).toBe('1');
    const rest = await api(h.tokens.admin, 'GET', `/os-hypervisors${next.search}`, undefined, mv('2.33'));
    expect(rest.body.hypervisors.map((x: any) => x.id)).toEqual([2]);
    const unknown = await api(h.tokens.admin, 'GET', '/os-hypervisors?marker=99', undefined, mv('2.33'));
    expect(unknown.body).toEqual({ badRequest: { code: 400, message: 'marker [99] not found' } });
    const none = await api(
      h.tokens.admin,
      'GET',
      '/os-hypervisors?hypervisor_hostname_pattern=zzz',
      undefined,
      mv('2.53'),
    );
    expect(none.status).toBe(404);
    const pagedPattern = await api(
      h.tokens.admin,
      'GET',
      '/os-hypervisors?hypervisor_hostname_pattern=node&limit=1',
      undefined,
      mv('2.53'),
    );
    expect(pagedPattern.status).toBe(400);
    const id = await bootActive(h.tokens.admin, 'listed-on-host');
    const host = h.back.placement.get(id)!;
    const withServers = await api(
      h.tokens.admin,
      'GET',
      '/os-hypervisors/detail?hypervisor_hostname_pattern=node&with_servers=true',
      undefined,
      mv('2.75'),
    );
    expect(withServers.body.hypervisors).toHaveLength(2);
    for (const hv of withServers.body.hypervisors) {
      const listed = hv.servers.some((s: any) => s.uuid === id);
      expect({ host: hv.hypervisor_hostname, listed }).toEqual({
        host: hv.hypervisor_hostname,
        listed: hv.hypervisor_hostname === host,
      });
    }
    expect((await api(h.tokens.admin, 'DELETE', `/servers/${id}`)).status).toBe(204);
  });

  it('lists compute services and disables one (2.53 and the legacy form)', async () => {
    const list = await api(h.tokens.admin, 'GET', '/os-services');
    expect(list.body.services[0]).toMatchObject({
      binary: 'nova-compute',
      host: 'node1',
      zone: 'nova',
      state: 'up',
      status: 'enabled',
    });
    const put = await api(
      h.tokens.admin,
      'PUT',
      '/os-services/2',
      { status: 'disabled', disabled_reason: 'maintenance' },
      mv('2.53'),
    );
    expect(put.body.service).toMatchObject({
      host: 'node2',
      status: 'disabled',
      disabled_reason: 'maintenance',
    });
    const enable = await api(h.tokens.admin, 'PUT', '/os-services/enable', {
      host: 'node2',
      binary: 'nova-compute',
    });
    expect(enable.body).toEqual({ service: { host: 'node2', binary: 'nova-compute', status: 'enabled' } });
    expect(
      (await api(h.tokens.alice, 'PUT', '/os-services/enable', { host: 'node2', binary: 'nova-compute' }))
        .status,
    ).toBe(403);
  });

  it('forces a compute service down and up (2.53, and 2.11 force-down); refuses an empty or unknown update', async () => {
    const down = await api(h.tokens.admin, 'PUT', '/os-services/2', { forced_down: true }, mv('2.53'));
    expect(down.status).toBe(200);
    expect(down.body.service).toMatchObject({ host: 'node2', forced_down: true, state: 'down' });
    const listed = await api(h.tokens.admin, 'GET', '/os-services', undefined, mv('2.53'));
    expect(listed.body.services.map((x: any) => [x.host, x.forced_down, x.state])).toEqual([
      ['node1', false, 'up'],
      ['node2', true, 'down'],
    ]);
    const up = await api(
      h.tokens.admin,
      'PUT',
      '/os-services/force-down',
      { host: 'node2', binary: 'nova-compute', forced_down: false },
      mv('2.11'),
    );
    expect(up.body).toEqual({ service: { host: 'node2', binary: 'nova-compute', forced_down: false } });
    const empty = await api(h.tokens.admin, 'PUT', '/os-services/2', {}, mv('2.53'));
    expect(empty.status).toBe(400);
    expect(empty.body.badRequest.message).toBe(
      "No updates were requested. Fields 'status' or 'forced_down' should be specified.",
    );
    expect((await api(h.tokens.admin, 'PUT', '/os-services/2', { bogus: 1 }, mv('2.53'))).status).toBe(400);
    const noReason = await api(h.tokens.admin, 'PUT', '/os-services/disable-log-reason', {
      host: 'node2',
      binary: 'nova-compute',
    });
    expect(noReason.body).toEqual({ badRequest: { code: 400, message: 'Missing disabled reason field' } });
    const scheduler = await api(h.tokens.admin, 'PUT', '/os-services/disable', {
      host: 'node2',
      binary: 'nova-scheduler',
    });
    expect(scheduler.status).toBe(400);
  });

  it('still sends a deletion to a host forced down whose agent heartbeats, so no guest is left there', async () => {
    const id = await bootActive(h.tokens.admin, 'on-forced');
    const host = h.back.placement.get(id)!;
    const service = (
      await api(h.tokens.admin, 'GET', '/os-services', undefined, mv('2.53'))
    ).body.services.find((x: any) => x.host === host);
    expect(
      (await api(h.tokens.admin, 'PUT', `/os-services/${service.id}`, { forced_down: true }, mv('2.53')))
        .status,
    ).toBe(200);
    try {
      await new Promise((r) => setTimeout(r, 2100)); // the api's copy of the host list lives 2 s
      expect((await api(h.tokens.admin, 'DELETE', `/servers/${id}`)).status).toBe(204);
      await eventually(
        async () => h.back.casts.find((c) => c.type === 'delete' && c.instanceId === id),
        Boolean,
        'the delete cast to the forced-down host',
      );
      expect(h.back.casts.find((c) => c.type === 'delete' && c.instanceId === id)!.host).toBe(host);
    } finally {
      await api(h.tokens.admin, 'PUT', `/os-services/${service.id}`, { forced_down: false }, mv('2.53'));
    }
  });

  it('answers what openstack hypervisor show asks: aggregates (none), uptime (not supported), search and servers before 2.53', async () => {
    expect((await api(h.tokens.admin, 'GET', '/os-aggregates')).body).toEqual({ aggregates: [] });
    expect((await api(h.tokens.alice, 'GET', '/os-aggregates')).status).toBe(403);
    const uptime = await api(h.tokens.admin, 'GET', '/os-hypervisors/1/uptime');
    expect(uptime.status).toBe(501);
    expect(uptime.body.notImplemented.code).toBe(501);
    expect((await api(h.tokens.admin, 'GET', '/os-hypervisors/9/uptime')).status).toBe(404);
    expect((await api(h.tokens.admin, 'GET', '/os-hypervisors/1/uptime', undefined, mv('2.88'))).status).toBe(
      404,
    );
    const search = await api(h.tokens.admin, 'GET', '/os-hypervisors/node/search');
    expect(search.body.hypervisors.map((x: any) => x.hypervisor_hostname)).toEqual(['node1', 'node2']);
    const none = await api(h.tokens.admin, 'GET', '/os-hypervisors/zzz/search');
    expect(none.body).toEqual({
      itemNotFound: { code: 404, message: "No hypervisor matching 'zzz' could be found." },
    });
    expect(
      (await api(h.tokens.admin, 'GET', '/os-hypervisors/node/search', undefined, mv('2.53'))).status,
    ).toBe(404);
    const id = await bootActive(h.tokens.admin, 'on-a-host');
    const host = h.back.placement.get(id)!;
    const servers = await api(h.tokens.admin, 'GET', `/os-hypervisors/${host}/servers`);
    const entry = servers.body.hypervisors.find((x: any) => x.hypervisor_hostname === host);
    expect(entry.servers).toContainEqual({ name: 'on-a-host', uuid: id });
    expect((await api(h.tokens.admin, 'DELETE', `/servers/${id}`)).status).toBe(204);
  });

  it('lists availability zones for everyone, with hosts for admins', async () => {
    const zones = await api(h.tokens.alice, 'GET', '/os-availability-zone');
    expect(zones.body.availabilityZoneInfo).toEqual([
      { zoneName: 'nova', zoneState: { available: true }, hosts: null },
    ]);
    const detail = await api(h.tokens.admin, 'GET', '/os-availability-zone/detail');
    expect(Object.keys(detail.body.availabilityZoneInfo[0].hosts)).toEqual(['node1', 'node2']);
  });

  it('reports usage per project from launch and termination times', async () => {
    const res = await api(
      h.tokens.admin,
      'GET',
      '/os-simple-tenant-usage?detailed=1&start=2000-01-01T00:00:00',
    );
    const bob = res.body.tenant_usages.find((u: any) => u.tenant_id === h.projects.bob);
    expect(bob.server_usages).toHaveLength(3);
    expect(bob.server_usages[0]).toMatchObject({
      flavor: 'm1.tiny',
      vcpus: 1,
      memory_mb: 512,
      state: 'active',
    });
    expect(bob.total_hours).toBeGreaterThan(0);
    const own = await api(
      h.tokens.bob,
      'GET',
      `/os-simple-tenant-usage/${h.projects.bob}?start=2000-01-01T00:00:00`,
    );
    expect(own.body.tenant_usage.server_usages).toHaveLength(3);
    expect((await api(h.tokens.bob, 'GET', `/os-simple-tenant-usage/${h.projects.alice}`)).status).toBe(403);
  });

  it('pages usage by instance from 2.40, following next links to the last page', async () => {
    const query = 'detailed=1&start=2000-01-01T00:00:00';
    const whole = await api(h.tokens.admin, 'GET', `/os-simple-tenant-usage?${query}`, undefined, mv('2.40'));
    const everyId = whole.body.tenant_usages.flatMap((u: any) =>
      u.server_usages.map((s: any) => s.instance_id),
    );
    expect(everyId.length).toBeGreaterThan(3);
    expect(whole.body).not.toHaveProperty('tenant_usages_links');

    const seen: string[] = [];
    let path: string | null = `/os-simple-tenant-usage?${query}&limit=2`;
    for (let pages = 0; path !== null; pages++) {
      expect(pages).toBeLessThan(everyId.length);
      const res: any = await api(h.tokens.admin, 'GET', path, undefined, mv('2.40'));
      expect(res.status).toBe(200);
      const ids = res.body.tenant_usages.flatMap((u: any) => u.server_usages.map((s: any) => s.instance_id));
      expect(ids.length).toBeLessThanOrEqual(2);
      seen.push(...ids);
      const link = res.body.tenant_usages_links?.[0];
      if (link) {
        expect(link.rel).toBe('next');
        const next = new URL(link.href);
        expect(next.searchParams.get('marker')).toBe(ids[ids.length - 1]);
        expect(next.searchParams.get('detailed')).toBe('1');
        path = `/os-simple-tenant-usage${next.search}`;
      } else path = null;
    }
    expect(seen).toEqual(everyId);

    const own = await api(
      h.tokens.bob,
      'GET',
      `/os-simple-tenant-usage/${h.projects.bob}?start=2000-01-01T00:00:00&limit=2`,
      undefined,
      mv('2.40'),
    );
    expect(own.body.tenant_usage.server_usages).toHaveLength(2);
    expect(own.body.tenant_usage_links[0].href).toContain(`/os-simple-tenant-usage/${h.projects.bob}?`);
    // Before 2.40 limit and marker are not read, as in Nova.
    const old = await api(h.tokens.admin, 'GET', `/os-simple-tenant-usage?${query}&limit=1&marker=nope`);
    expect(old.status).toBe(200);
    expect(old.body).not.toHaveProperty('tenant_usages_links');
    const badMarker = await api(
      h.tokens.admin,
      'GET',
      `/os-simple-tenant-usage?marker=nope`,
      undefined,
      mv('2.40'),
    );
    expect(badMarker.status).toBe(400);
    expect(badMarker.body.badRequest.message).toBe('Marker nope could not be found.');
  });
});
