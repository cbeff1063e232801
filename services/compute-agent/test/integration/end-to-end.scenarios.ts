/**
 * The scenarios both end-to-end suites (in-memory bus, RabbitMQ) run against a scheduler and
 * three libvirt test:///default agents.
 */
import type { Bus } from '@strato/bus';
import { AppError } from '@strato/errors';
import { ComputeClient } from '@strato/contracts';
import type { GuestSpec, HypervisorDriver } from '../../src/driver/hypervisor-driver';
import { startStack, type Stack } from './e2e-stack';
import { scheduleRequest } from './e2e-requests';

/** The first spawn of a "doomed" instance fails, wherever it lands (as if that disk were full). */
function failFirstDoomedSpawn(failed: string[]) {
  return (host: string, driver: HypervisorDriver): HypervisorDriver =>
    Object.assign(Object.create(driver) as HypervisorDriver, {
      spawn: (spec: GuestSpec) => {
        if (spec.displayName === 'doomed' && failed.length === 0) {
          failed.push(host);
          return Promise.reject(new AppError('Internal', 'No space left on device'));
        }
        return driver.spawn(spec);
      },
    });
}

export function endToEndScenarios(
  name: string,
  amqpUrl?: string,
  deleteQueues?: (queues: string[]) => Promise<void>,
): void {
  describe(`scheduler + compute agents end to end (${name})`, () => {
    let stack: Stack;
    const suffix = Math.random().toString(36).slice(2, 8);
    const hosts = [`a-${suffix}`, `b-${suffix}`, `c-${suffix}`];

    const failedOn: string[] = [];

    beforeAll(async () => {
      stack = await startStack({
        hosts,
        ...(amqpUrl ? { amqpUrl } : {}),
        wrapDriver: failFirstDoomedSpawn(failedOn),
      });
    }, 60_000);
    afterAll(async () => {
      await stack?.stop();
      if (stack) await deleteQueues?.(stack.queues);
    });

    it('turns a schedule request into a running libvirt domain and an ACTIVE event', async () => {
      const req = scheduleRequest();
      await stack.client.scheduleInstance(req);
      const done = await stack.events.settled(req.instance_id);
      expect(done).toMatchObject({ vm_state: 'active', power_state: 1, task_state: null });
      const agent = stack.agents.find((a) => a.host === done.host)!;
      expect(await agent.driver.getInfo(req.instance_id)).toMatchObject({ powerState: 1 });

      // Stop, start, console and delete follow the same path to the same domain.
      const compute = new ComputeClient(busOf(stack), done.host!);
      await compute.stopInstance(req.instance_id);
      await stack.events.waitFor((e) => e.instance_id === req.instance_id && e.vm_state === 'stopped');
      expect((await agent.driver.getInfo(req.instance_id)).powerState).toBe(4);
      await compute.startInstance(req.instance_id);
      await stack.events.waitFor(
        (e) =>
          e.instance_id === req.instance_id && e.vm_state === 'active' && e.occurred_at > done.occurred_at,
      );
      const log = await compute.getConsoleOutput(req.instance_id, null);
      expect(log.output).toContain('compute-agent');
      await compute.deleteInstance(req.instance_id);
      await stack.events.waitFor((e) => e.instance_id === req.instance_id && e.vm_state === 'deleted');
      await expect(agent.driver.getInfo(req.instance_id)).rejects.toMatchObject({ kind: 'NotFound' });
      // The scheduler frees the allocations on its own copy of the event.
      await until(async () => (await stack.scheduler.repository.allocationsOf(req.instance_id)).length === 0);
    }, 30_000);

    it('reschedules a build that fails on its host to another host', async () => {
      const req = scheduleRequest({ display_name: 'doomed' });
      await stack.client.scheduleInstance(req);
      const done = await stack.events.settled(req.instance_id);
      expect(done).toMatchObject({ vm_state: 'active', attempt: 2 });
      expect(failedOn).toHaveLength(1);
      expect(done.host).not.toBe(failedOn[0]);
      expect(
        stack.events.events.some(
          (e) => e.instance_id === req.instance_id && e.task_state === 'scheduling' && e.attempt === 2,
        ),
      ).toBe(true);
      const failedAgent = stack.agents.find((a) => a.host === failedOn[0])!;
      await expect(failedAgent.driver.getInfo(req.instance_id)).rejects.toMatchObject({ kind: 'NotFound' });
    }, 30_000);

    it('puts an anti-affinity group of 3 on 3 different hosts, and has no host for a 4th', async () => {
      const group = { id: `anti-${suffix}`, policy: 'anti-affinity' as const, hosts: [] };
      const reqs = [0, 1, 2].map(() => scheduleRequest({ server_group: group }));
      await Promise.all(reqs.map((r) => stack.client.scheduleInstance(r)));
      const done = await Promise.all(reqs.map((r) => stack.events.settled(r.instance_id)));
      expect(done.map((d) => d.vm_state)).toEqual(['active', 'active', 'active']);
      expect(new Set(done.map((d) => d.host)).size).toBe(3);
      const fourth = scheduleRequest({ server_group: group });
      await stack.client.scheduleInstance(fourth);
      expect(await stack.events.settled(fourth.instance_id)).toMatchObject({
        vm_state: 'error',
        fault: { message: expect.stringMatching(/^No valid host was found\./) },
      });
    }, 30_000);

    it('lists hypervisors with their usage for the admin API', async () => {
      const { hosts: listed } = await stack.client.listHosts();
      const ours = listed.filter((h) => hosts.includes(h.host));
      expect(ours).toHaveLength(3);
      expect(ours.every((h) => h.state === 'up' && h.status === 'enabled' && h.vcpus === 8)).toBe(true);
    });
  });
}

/** Waits (bounded by the test's timeout) until a condition holds. */
async function until(condition: () => Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((r) => setTimeout(r, 20));
}

function busOf(stack: Stack): Bus {
  return (stack.client as unknown as { bus: Bus }).bus;
}
