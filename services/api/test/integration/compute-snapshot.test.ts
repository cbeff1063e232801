/* eslint-disable @typescript-eslint/no-unsafe-return --
   the API's JSON bodies are read field by field, as a client would. */
/**
 * createImage over HTTP (port 0), on SQLite and a MemoryBus, with the fake scheduler and
 * agents answering on the bus and a fake image service: the image record, the task_states,
 * the cast to the host, the response per microversion and the refusals.
 */
import { randomUUID } from 'node:crypto';
import { instanceStateChangedV1, publishMessage, routingKeys } from '@strato/contracts';
import {
  eventually,
  IMAGE_ID,
  startComputeHarness,
  type ComputeHarness,
  callApi,
} from '../../src/compute/testing/harness';

jest.setTimeout(30_000);

let h: ComputeHarness;

beforeAll(async () => {
  h = await startComputeHarness();
});

afterAll(async () => {
  await h.close();
});

const api = (
  token: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) => callApi(h, token, method, path, body, headers);

const mv = (v: string) => ({ 'OpenStack-API-Version': `compute ${v}` });

const server = async (token: string, id: string) => (await api(token, 'GET', `/servers/${id}`)).body.server;

/** Waits until the server shows `status` with no task running. */
const settled = (token: string, id: string, status: string) =>
  eventually(
    () => server(token, id),
    (s) => s.status === status && s['OS-EXT-STS:task_state'] === null,
    `server ${id} ${status} with no task`,
  );

async function bootActive(token: string, name: string, imageRef = IMAGE_ID): Promise<string> {
  const res = await api(token, 'POST', '/servers', { server: { name, imageRef, flavorRef: '1' } });
  expect(res.status).toBe(202);
  await settled(token, res.body.server.id, 'ACTIVE');
  return res.body.server.id as string;
}

const createImage = (token: string, id: string, body: unknown, version = '2.45') =>
  api(token, 'POST', `/servers/${id}/action`, { createImage: body }, mv(version));

describe('createImage', () => {
  let vm: string;

  beforeAll(async () => {
    vm = await bootActive(h.tokens.alice, 'snap-source');
  });

  it("answers 202 with the image id from 2.45; the image is the server project's, with Nova's properties", async () => {
    const res = await createImage(h.tokens.alice, vm, { name: 'snap1', metadata: { purpose: 'backup' } });
    expect(res.status).toBe(202);
    expect(res.headers.get('location')).toBeNull();
    const imageId = res.body.image_id as string;
    expect(Object.keys(res.body)).toEqual(['image_id']);
    const image = h.images.find(imageId)!;
    expect(image).toMatchObject({
      name: 'snap1',
      owner: h.projects.alice,
      visibility: 'private',
      disk_format: 'qcow2',
      container_format: 'bare',
      min_disk_gb: 1, // the flavor's root disk (m1.tiny), as Nova records it
      min_ram_mb: 0,
      properties: {
        image_type: 'snapshot',
        instance_uuid: vm,
        base_image_ref: IMAGE_ID,
        user_id: 'u-alice',
        purpose: 'backup',
      },
    });
    await settled(h.tokens.alice, vm, 'ACTIVE');
    expect(h.back.casts).toContainEqual({
      host: expect.any(String),
      type: `snapshot ${imageId}`,
      instanceId: vm,
    });
    expect(h.images.find(imageId)!.status).toBe('active');
  });

  it("shows the snapshot's task_states while it runs and refuses a second one meanwhile", async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    h.back.snapshotDone = async (imageId) => {
      await held;
      h.images.setStatus(imageId, 'active');
    };
    try {
      const res = await createImage(h.tokens.alice, vm, { name: 'held' });
      expect(res.status).toBe(202);
      const during = await eventually(
        () => server(h.tokens.alice, vm),
        (s) => s['OS-EXT-STS:task_state'] === 'image_uploading',
        'task_state image_uploading',
      );
      expect(during.status).toBe('ACTIVE');
      const again = await createImage(h.tokens.alice, vm, { name: 'second' });
      expect(again.status).toBe(409);
      expect(again.body.conflictingRequest.message).toBe(
        `Cannot 'createImage' instance ${vm} while it is in task_state image_uploading`,
      );
      const stop = await api(h.tokens.alice, 'POST', `/servers/${vm}/action`, { 'os-stop': null });
      expect(stop.status).toBe(409);
    } finally {
      release();
      h.back.snapshotDone = async (imageId) => h.images.setStatus(imageId, 'active');
    }
    await settled(h.tokens.alice, vm, 'ACTIVE');
  });

  it('puts the image URL in Location and sends no body before 2.45', async () => {
    const res = await createImage(h.tokens.alice, vm, { name: 'legacy' }, '2.44');
    expect(res.status).toBe(202);
    expect(res.body).toBeNull();
    const location = res.headers.get('location')!;
    expect(location).toMatch(/^http:\/\/127\.0\.0\.1:9292\/images\/[0-9a-f-]{36}$/);
    const imageId = location.split('/').at(-1)!;
    expect(h.images.find(imageId)?.name).toBe('legacy');
    await settled(h.tokens.alice, vm, 'ACTIVE');
  });

  it('snapshots a stopped server, which stays SHUTOFF', async () => {
    const off = await bootActive(h.tokens.alice, 'snap-stopped');
    expect((await api(h.tokens.alice, 'POST', `/servers/${off}/action`, { 'os-stop': null })).status).toBe(
      202,
    );
    await settled(h.tokens.alice, off, 'SHUTOFF');
    const res = await createImage(h.tokens.alice, off, { name: 'cold' });
    expect(res.status).toBe(202);
    await settled(h.tokens.alice, off, 'SHUTOFF');
    expect(h.images.find(res.body.image_id)!.status).toBe('active');
  });

  it('inherits the source image properties, except those that describe the source file', async () => {
    const source = randomUUID();
    h.images.add({ id: 'k1', disk_format: 'aki', container_format: 'aki' });
    h.images.add({
      id: source,
      name: 'with-props',
      min_ram_mb: 256,
      size: 1024,
      properties: {
        hw_disk_bus: 'virtio',
        kernel_id: 'k1',
        base_image_ref: 'the-original',
        img_signature: 'sig',
        'owner_specified.openstack.md5': 'abc',
      },
    });
    const child = await bootActive(h.tokens.alice, 'snap-props', source);
    const res = await createImage(h.tokens.alice, child, {
      name: 'props',
      metadata: { hw_disk_bus: 'scsi' },
    });
    expect(res.status).toBe(202);
    const image = h.images.find(res.body.image_id)!;
    expect(image).toMatchObject({ min_ram_mb: 256, min_disk_gb: 1 });
    expect(image.properties).toEqual({
      hw_disk_bus: 'scsi', // the request's metadata wins
      kernel_id: 'k1',
      base_image_ref: 'the-original',
      image_type: 'snapshot',
      instance_uuid: child,
      user_id: 'u-alice',
    });
    await settled(h.tokens.alice, child, 'ACTIVE');
  });

  it("refuses a server in ERROR with Nova's 409 and creates no image", async () => {
    h.back.hostsAvailable = false;
    let id: string;
    try {
      const res = await api(h.tokens.alice, 'POST', '/servers', {
        server: { name: 'snap-error', imageRef: IMAGE_ID, flavorRef: '1' },
      });
      id = res.body.server.id as string;
      await eventually(
        () => server(h.tokens.alice, id),
        (s) => s.status === 'ERROR',
        'server ERROR',
      );
    } finally {
      h.back.hostsAvailable = true;
    }
    const [casts, images] = [h.back.casts.length, h.images.count];
    const refused = await createImage(h.tokens.alice, id, { name: 'nope' });
    expect(refused.status).toBe(409);
    expect(refused.body.conflictingRequest.message).toBe(
      `Cannot 'createImage' instance ${id} while it is in vm_state error`,
    );
    expect(h.back.casts.length).toBe(casts);
    expect(h.images.count).toBe(images);
  });

  it('validates the request like Nova (name required, nothing else than name and metadata)', async () => {
    expect((await createImage(h.tokens.alice, vm, {})).status).toBe(400);
    expect((await createImage(h.tokens.alice, vm, { name: '  ' })).status).toBe(400);
    expect((await createImage(h.tokens.alice, vm, { name: 'x', extra: 1 })).status).toBe(400);
    expect((await createImage(h.tokens.alice, vm, { name: 'x', metadata: { k: 1 } })).status).toBe(400);
  });

  it('counts the metadata against the metadata_items quota (403)', async () => {
    const set = await api(h.tokens.admin, 'PUT', `/os-quota-sets/${h.projects.alice}`, {
      quota_set: { metadata_items: 1 },
    });
    expect(set.status).toBe(200);
    try {
      const res = await createImage(h.tokens.alice, vm, { name: 'big', metadata: { a: '1', b: '2' } });
      expect(res.status).toBe(403);
      expect(res.body.forbidden.message).toBe('Image metadata limit exceeded');
    } finally {
      await api(h.tokens.admin, 'DELETE', `/os-quota-sets/${h.projects.alice}`);
    }
  });

  it("is 404 for a server that does not exist or is another project's", async () => {
    expect((await createImage(h.tokens.alice, randomUUID(), { name: 'x' })).status).toBe(404);
    expect((await createImage(h.tokens.bob, vm, { name: 'x' })).status).toBe(404);
  });

  it("lets an admin snapshot a tenant's server into the tenant's project", async () => {
    const res = await createImage(h.tokens.admin, vm, { name: 'by-admin' });
    expect(res.status).toBe(202);
    expect(h.images.find(res.body.image_id)).toMatchObject({
      owner: h.projects.alice,
      visibility: 'private',
    });
    await settled(h.tokens.alice, vm, 'ACTIVE');
  });
});

describe('instance.state_changed v1', () => {
  it('still applies events from an agent that sends the first version', async () => {
    const id = await bootActive(h.tokens.bob, 'old-agent');
    const before = await server(h.tokens.bob, id);
    await publishMessage(h.backBus, routingKeys.instanceStateChanged, instanceStateChangedV1, {
      instance_id: id,
      host: before['OS-EXT-SRV-ATTR:host'] ?? null,
      attempt: null,
      vm_state: 'stopped',
      task_state: null,
      power_state: 4,
      fault: null,
      occurred_at: new Date(Date.now() + 1000).toISOString(),
    });
    await settled(h.tokens.bob, id, 'SHUTOFF');
  });
});

describe('the instance spec sent to the scheduler', () => {
  it("carries the key pair's name beside its public key", async () => {
    const key = await api(h.tokens.bob, 'POST', '/os-keypairs', { keypair: { name: 'bobkey' } });
    expect(key.status).toBe(200);
    const res = await api(h.tokens.bob, 'POST', '/servers', {
      server: { name: 'keyed', imageRef: IMAGE_ID, flavorRef: '1', key_name: 'bobkey' },
    });
    expect(res.status).toBe(202);
    const spec = await eventually(
      async () => h.back.scheduled.find((m) => m.instance_id === res.body.server.id),
      (m) => m !== undefined,
      'schedule request',
    );
    expect(spec).toMatchObject({ key_name: 'bobkey', key_data: key.body.keypair.public_key });
  });
});
