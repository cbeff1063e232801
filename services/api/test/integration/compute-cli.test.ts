/**
 * Acceptance: the real openstack CLI against identity (the api service in-process) and the
 * compute API, with the scheduler and agents faked on the bus and a minimal image endpoint
 * that resolves the image name (the CLI asks Glance for it).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import express from 'express';
import { listen, type RunningServer } from '@strato/http';
import { IMAGE_ID, startComputeHarness, type ComputeHarness } from '../../src/compute/testing/harness';
import { adminOsEnv, unusedPort } from '../support/external';
import { ADMIN_PASSWORD, startIdentity, type Harness } from '../support/identity-harness';

const run = promisify(execFile);

jest.setTimeout(120_000);

async function cli(args: string[], env: Record<string, string>): Promise<string> {
  const { stdout } = await run('openstack', args, {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      LANG: 'C.UTF-8',
      ...env,
    },
    timeout: 60_000,
  });
  return stdout;
}

/** `-f json` output of a command (a show's object or a list's rows). */
const json = async <T = Record<string, unknown>>(args: string[], env: Record<string, string>): Promise<T> =>
  JSON.parse(await cli([...args, '-f', 'json'], env)) as T;

/** Just enough of Image v2 for the CLI to resolve one image by name or id. */
function fakeGlance(url: string) {
  const doc = {
    id: IMAGE_ID,
    name: 'tiny-qcow2',
    status: 'active',
    visibility: 'public',
    disk_format: 'qcow2',
    container_format: 'bare',
    size: 196616,
    min_ram: 0,
    min_disk: 0,
    tags: [],
    self: `/v2/images/${IMAGE_ID}`,
    file: `/v2/images/${IMAGE_ID}/file`,
    schema: '/v2/schemas/image',
  };
  const app = express();
  app.get('/', (_req, res) => {
    res
      .status(300)
      .json({ versions: [{ id: 'v2.15', status: 'CURRENT', links: [{ rel: 'self', href: `${url}/v2/` }] }] });
  });
  app.get('/v2/images/:id', (req, res) => {
    if (req.params.id === IMAGE_ID) res.json(doc);
    else res.status(404).type('text/html').send('<html>404 Not Found</html>');
  });
  app.get('/v2/images', (req, res) => {
    const name = typeof req.query.name === 'string' ? req.query.name : undefined;
    res.json({
      images: !name || name === doc.name ? [doc] : [],
      first: '/v2/images',
      schema: '/v2/schemas/images',
    });
  });
  return app;
}

describe('openstack CLI against the compute API', () => {
  let identity: Harness;
  let compute: ComputeHarness;
  let glance: RunningServer;
  let env: Record<string, string>;

  beforeAll(async () => {
    const [computePort, imagePort, identityPort] = await Promise.all([
      unusedPort(),
      unusedPort(),
      unusedPort(),
    ]);
    const imageUrl = `http://127.0.0.1:${imagePort}`;
    glance = await listen(fakeGlance(imageUrl), imagePort, '127.0.0.1');
    identity = await startIdentity({
      IDENTITY_PORT: String(identityPort),
      IDENTITY_PUBLIC_URL: `http://127.0.0.1:${identityPort}/v3/`,
      COMPUTE_PUBLIC_URL: `http://127.0.0.1:${computePort}/v2.1`,
      IMAGE_PUBLIC_URL: imageUrl,
    });
    compute = await startComputeHarness({
      signingKeys: identity.config.TOKEN_SIGNING_KEYS,
      port: computePort,
    });
    env = adminOsEnv(`http://127.0.0.1:${identityPort}/v3`, ADMIN_PASSWORD);
  });

  afterAll(async () => {
    await compute?.close();
    await identity?.stop();
    await glance?.close(100);
  });

  it('creates and shows flavors, creates a key pair, boots a server with --wait and stops it', async () => {
    const flavor = await json(
      ['flavor', 'create', '--ram', '256', '--disk', '1', '--vcpus', '1', 'cli.small'],
      env,
    );
    expect(flavor).toMatchObject({
      name: 'cli.small',
      ram: 256,
      vcpus: 1,
      'os-flavor-access:is_public': true,
    });
    const flavors = await json<{ Name: string }[]>(['flavor', 'list'], env);
    expect(flavors.map((f) => f.Name)).toEqual(expect.arrayContaining(['m1.tiny', 'cli.small']));
    expect(await json(['flavor', 'show', 'm1.tiny'], env)).toMatchObject({ id: '1', ram: 512, disk: 1 });

    const privateKey = await cli(['keypair', 'create', 'clikey'], env);
    expect(privateKey).toContain('PRIVATE KEY');

    const server = await json(
      [
        'server',
        'create',
        '--flavor',
        'm1.tiny',
        '--image',
        'tiny-qcow2',
        '--key-name',
        'clikey',
        '--wait',
        'vm1',
      ],
      env,
    );
    expect(server).toMatchObject({ name: 'vm1', status: 'ACTIVE', key_name: 'clikey' });
    const list = await json<{ Name: string; Status: string }[]>(['server', 'list'], env);
    expect(list).toEqual([expect.objectContaining({ Name: 'vm1', Status: 'ACTIVE' })]);

    await cli(['server', 'stop', 'vm1'], env);
    let status = '';
    for (let i = 0; i < 100 && status !== 'SHUTOFF'; i++) {
      status = String((await json(['server', 'show', 'vm1'], env)).status);
    }
    expect(status).toBe('SHUTOFF');
    await cli(['server', 'delete', '--wait', 'vm1'], env);
    expect(await json(['server', 'list'], env)).toEqual([]);
  });
});
