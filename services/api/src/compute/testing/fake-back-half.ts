/**
 * A stand-in for the scheduler and compute agents, on the bus, for tests of the compute API:
 * it answers schedule requests by "building" on one of its hosts (state_changed events),
 * obeys start/stop/reboot/delete/snapshot casts, serves scheduler.list_hosts /
 * set_host_enabled and
 * console output. Behaviour is scripted through its public fields.
 */
import type { Bus, Subscription } from '@strato/bus';
import {
  computeQueues,
  deleteInstance,
  EventPublisher,
  getConsoleOutput,
  listHosts,
  MessageRouter,
  rebootInstance,
  releaseClaim,
  scheduleInstance,
  schedulerQueues,
  setHostEnabled,
  setHostForcedDown,
  snapshotInstance,
  startInstance,
  stopInstance,
  type HostSummary,
  type PayloadOf,
} from '@strato/contracts';

type Schedule = PayloadOf<typeof scheduleInstance>;

export class FakeBackHalf {
  /** When false, schedule requests end in ERROR "No valid host was found.". */
  hostsAvailable = true;
  /** Every schedule request received (for asserting on hints and specs). */
  readonly scheduled: Schedule[] = [];
  readonly released: string[] = [];
  readonly casts: { host: string; type: string; instanceId: string }[] = [];
  /** instance id → host it runs on. */
  readonly placement = new Map<string, string>();
  /** Called between a snapshot's image_uploading and its end (e.g. to mark the image active). */
  snapshotDone: ((imageId: string) => Promise<void>) | null = null;
  private readonly poweredOff = new Set<string>();
  private readonly disabled = new Map<string, string | null>();
  private readonly forcedDown = new Set<string>();
  private readonly subs: Subscription[] = [];
  private readonly events: EventPublisher;
  private clock = Date.now();
  private next = 0;

  constructor(
    private readonly bus: Bus,
    readonly hosts: string[] = ['node1', 'node2'],
  ) {
    this.events = new EventPublisher(bus);
  }

  private now(): string {
    this.clock = Math.max(this.clock + 1, Date.now());
    return new Date(this.clock).toISOString();
  }

  private summary(host: string, index: number): HostSummary {
    const running = [...this.placement.values()].filter((h) => h === host).length;
    return {
      id: index + 1,
      host,
      availability_zone: 'nova',
      state: this.forcedDown.has(host) ? 'down' : 'up',
      status: this.disabled.has(host) ? 'disabled' : 'enabled',
      disabled_reason: this.disabled.get(host) ?? null,
      forced_down: this.forcedDown.has(host),
      heartbeat_fresh: true,
      hypervisor_type: 'QEMU',
      hypervisor_version: 8002000,
      host_ip: '127.0.0.1',
      cpu_info: '{"arch": "x86_64"}',
      vcpus: 8,
      vcpus_used: running,
      memory_mb: 16384,
      memory_mb_used: 512 * running,
      local_gb: 100,
      local_gb_used: running,
      running_vms: running,
      current_workload: 0,
      cpu_load: 0.1,
      updated_at: new Date().toISOString(),
      inventories: [],
    };
  }

  private pickHost(req: Schedule): string | null {
    const candidates = this.hosts.filter((h) => !this.disabled.has(h));
    const group = req.server_group;
    let allowed = candidates;
    if (group?.policy === 'anti-affinity') allowed = candidates.filter((h) => !group.hosts.includes(h));
    if (group?.policy === 'affinity' && group.hosts.length > 0)
      allowed = candidates.filter((h) => group.hosts.includes(h));
    if (allowed.length === 0) return null;
    return allowed[this.next++ % allowed.length]!;
  }

  private async schedule(req: Schedule): Promise<void> {
    this.scheduled.push(req);
    const base = { instance_id: req.instance_id, attempt: req.attempt, fault: null };
    const host = this.hostsAvailable ? this.pickHost(req) : null;
    if (!host) {
      await this.events.instanceStateChanged({
        ...base,
        host: null,
        vm_state: 'error',
        task_state: null,
        power_state: 0,
        fault: {
          code: 500,
          message: 'No valid host was found. ',
          details: 'There are not enough hosts available.',
        },
        occurred_at: this.now(),
      });
      return;
    }
    this.placement.set(req.instance_id, host);
    await this.events.instanceStateChanged({
      ...base,
      host,
      vm_state: 'building',
      task_state: 'spawning',
      power_state: 0,
      occurred_at: this.now(),
    });
    await this.events.instanceStateChanged({
      ...base,
      host,
      vm_state: 'active',
      task_state: null,
      power_state: 1,
      occurred_at: this.now(),
    });
  }

  private state(
    host: string,
    instanceId: string,
    vm: 'active' | 'stopped' | 'deleted',
    power: 0 | 1 | 4,
    task: 'image_uploading' | null = null,
  ) {
    return this.events.instanceStateChanged({
      instance_id: instanceId,
      host,
      attempt: null,
      vm_state: vm,
      task_state: task,
      power_state: power,
      fault: null,
      occurred_at: this.now(),
    });
  }

  async start(): Promise<void> {
    const scheduler = new MessageRouter()
      .on(scheduleInstance, (e) => this.schedule(e.payload))
      .on(releaseClaim, async (e) => {
        this.released.push(e.payload.instance_id);
      });
    this.subs.push(
      await this.bus.consume(schedulerQueues.requests.queue, scheduler.handler(), {
        bindings: schedulerQueues.requests.bindings,
      }),
    );
    const rpc = new MessageRouter()
      .onCall(listHosts, async (e) => ({
        hosts: this.hosts
          .map((h, i) => this.summary(h, i))
          .filter((h) => !e.payload.host || h.host === e.payload.host),
      }))
      .onCall(setHostEnabled, async (e) => {
        const at = this.hosts.indexOf(e.payload.host);
        if (at < 0) throw Object.assign(new Error(`Host ${e.payload.host} not found`), { kind: 'NotFound' });
        if (e.payload.enabled) this.disabled.delete(e.payload.host);
        else this.disabled.set(e.payload.host, e.payload.disabled_reason);
        return this.summary(e.payload.host, at);
      })
      .onCall(setHostForcedDown, async (e) => {
        const at = this.hosts.indexOf(e.payload.host);
        if (at < 0) throw Object.assign(new Error(`Host ${e.payload.host} not found`), { kind: 'NotFound' });
        if (e.payload.forced_down) this.forcedDown.add(e.payload.host);
        else this.forcedDown.delete(e.payload.host);
        return this.summary(e.payload.host, at);
      });
    this.subs.push(
      await this.bus.serve(schedulerQueues.rpc.queue, rpc.rpcHandler(), {
        bindings: schedulerQueues.rpc.bindings,
      }),
    );
    for (const host of this.hosts) {
      const q = computeQueues(host);
      const record = (type: string, instanceId: string) => this.casts.push({ host, type, instanceId });
      const casts = new MessageRouter()
        .on(stopInstance, async (e) => {
          record('stop', e.payload.instance_id);
          this.poweredOff.add(e.payload.instance_id);
          await this.state(host, e.payload.instance_id, 'stopped', 4);
        })
        .on(startInstance, async (e) => {
          record('start', e.payload.instance_id);
          this.poweredOff.delete(e.payload.instance_id);
          await this.state(host, e.payload.instance_id, 'active', 1);
        })
        .on(rebootInstance, async (e) => {
          record(`reboot_${e.payload.reboot_type}`, e.payload.instance_id);
          await this.state(host, e.payload.instance_id, 'active', 1);
        })
        .on(snapshotInstance, async (e) => {
          record(`snapshot ${e.payload.image_id}`, e.payload.instance_id);
          const power = this.poweredOff.has(e.payload.instance_id) ? 4 : 1;
          const vm = power === 4 ? 'stopped' : 'active';
          await this.state(host, e.payload.instance_id, vm, power, 'image_uploading');
          await this.snapshotDone?.(e.payload.image_id);
          await this.state(host, e.payload.instance_id, vm, power);
        })
        .on(deleteInstance, async (e) => {
          record('delete', e.payload.instance_id);
          this.placement.delete(e.payload.instance_id);
          await this.state(host, e.payload.instance_id, 'deleted', 0);
        });
      this.subs.push(await this.bus.consume(q.casts.queue, casts.handler(), { bindings: q.casts.bindings }));
      const console = new MessageRouter().onCall(getConsoleOutput, async (e) => ({
        output: `console of ${e.payload.instance_id} on ${host}\nlogin:`,
      }));
      this.subs.push(await this.bus.serve(q.rpc.queue, console.rpcHandler(), { bindings: q.rpc.bindings }));
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.subs.splice(0).map((s) => s.cancel()));
  }
}
