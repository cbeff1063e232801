/**
 * Issue 4, "an agent that dies mid-build": the build of a server is sent to a compute agent
 * that has stopped (frozen with SIGSTOP the moment before, so its heartbeat is still fresh
 * when the scheduler picks it, then killed with SIGKILL). Once its heartbeat expires the
 * scheduler fails the build over to the other agent: the server goes ACTIVE there and never
 * stays in BUILD. With no other agent alive it goes to ERROR with the reason instead.
 * Separate processes on PostgreSQL, RabbitMQ and Redis; agents on test:///default.
 */
import {
  ComputeApi,
  adminToken,
  startComputeStack,
  waitFor,
  type ComputeStack,
} from '../support/compute-stack';

jest.setTimeout(180_000);

interface Server {
  id: string;
  status: string;
  'OS-EXT-STS:task_state': string | null;
  'OS-EXT-SRV-ATTR:host': string | null;
  fault?: { message: string };
}

const AGENT_ENV = {
  LIBVIRT_URI: 'test:///default',
  REPORT_INTERVAL_MS: '300',
  HEARTBEAT_TIMEOUT_S: '2',
};

describe('a compute agent that dies with a build on its queue', () => {
  let stack: ComputeStack;
  let api: ComputeApi;
  /** Microversion 2.1, for os-services' enable and disable by host. */
  let legacyApi: ComputeApi;
  let flavor: string;
  let image: string;

  beforeAll(async () => {
    stack = await startComputeStack({ schedulerEnv: { SWEEP_INTERVAL_MS: '500' }, agentEnv: AGENT_ENV });
    const auth = await adminToken(stack.identityUrl, stack.password);
    api = new ComputeApi(stack.computeUrl, auth.token);
    legacyApi = new ComputeApi(stack.computeUrl, auth.token, '2.1');
    flavor = (
      await api.ok<{ flavor: { id: string } }>('POST', '/flavors', {
        flavor: { name: 'death.tiny', vcpus: 1, ram: 64, disk: 1 },
      })
    ).flavor.id;
    const headers = { 'x-auth-token': auth.token };
    const created = await fetch(`${stack.env.IMAGE_PUBLIC_URL}/v2/images`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'death', disk_format: 'raw', container_format: 'bare' }),
    });
    image = ((await created.json()) as { id: string }).id;
    const put = await fetch(`${stack.env.IMAGE_PUBLIC_URL}/v2/images/${image}/file`, {
      method: 'PUT',
      headers: { ...headers, 'content-type': 'application/octet-stream' },
      body: Buffer.alloc(4096, 1),
    });
    expect(put.status).toBe(204);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  const boot = async (name: string) =>
    (
      await api.ok<{ server: { id: string } }>('POST', '/servers', {
        server: { name, flavorRef: flavor, imageRef: image },
      })
    ).server.id;
  const settled = (id: string) =>
    waitFor(
      `server ${id} out of BUILD`,
      () => api.ok<{ server: Server }>('GET', `/servers/${id}`).then((b) => b.server),
      (s) => s.status !== 'BUILD' && s['OS-EXT-STS:task_state'] === null,
      { timeoutMs: 60_000 },
    );
  /** Starts an agent and waits until the scheduler has it as a live compute service. */
  const startAgent = async (host: string) => {
    const [agent] = await stack.startAgents({ hosts: [host] });
    await waitFor(
      `compute service ${host} up`,
      () => legacyApi.ok<{ services: { host: string; state: string }[] }>('GET', '/os-services'),
      (b) => b.services.some((s) => s.host === host && s.state === 'up'),
    );
    return agent!;
  };
  /** Freezes an agent process and boots a server while its heartbeat is still fresh. */
  const bootOnFrozen = async (host: string) => {
    const agent = await startAgent(host);
    process.kill(agent.child.pid!, 'SIGSTOP');
    const id = await boot(`on-${host}`);
    return { agent, id };
  };

  it('fails the build over to a live agent once the dead one stops heartbeating', async () => {
    // The survivor runs before the build, disabled so that the build goes to the frozen agent:
    // it is alive when that agent's heartbeat expires, however long an agent takes to start.
    await startAgent('survivor');
    const survivor = { host: 'survivor', binary: 'nova-compute' };
    await legacyApi.ok('PUT', '/os-services/disable', survivor);
    const { agent, id } = await bootOnFrozen('doomed1');
    // The build went to the only enabled host, which is frozen: it must not stay there.
    const first = await api.ok<{ server: Server }>('GET', `/servers/${id}`);
    expect(first.server.status).toBe('BUILD');
    process.kill(agent.child.pid!, 'SIGKILL');
    await legacyApi.ok('PUT', '/os-services/enable', survivor);
    const server = await settled(id);
    expect(server).toMatchObject({ status: 'ACTIVE', 'OS-EXT-SRV-ATTR:host': 'survivor' });
  });

  it('puts the build in ERROR when no live agent is left to take it', async () => {
    // Stop the survivor too, so nothing can take the build.
    const survivor = stack.procs.find((p) => p.name === 'compute-agent survivor')!;
    await survivor.stop();
    const { agent, id } = await bootOnFrozen('doomed2');
    process.kill(agent.child.pid!, 'SIGKILL');
    const server = await settled(id);
    expect(server.status).toBe('ERROR');
    expect(server.fault?.message).toMatch(/No valid host was found|stopped reporting/);
  });
});
