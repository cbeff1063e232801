/**
 * An in-memory hypervisor (like nova's virt/fake.py): same contract as LibvirtDriver, no
 * libvirt. For unit tests and the all-in-one's "simulated hypervisor" fallback.
 */
import { writeFile } from 'node:fs/promises';
import { AppError } from '@strato/errors';
import { POWER_STATE, type PowerState } from '@strato/contracts';
import {
  tailLines,
  type DriverCapabilities,
  type GuestInfo,
  type GuestSpec,
  type HostInventory,
  type HypervisorDriver,
  type RebootType,
  type SnapshotFile,
} from './hypervisor-driver';

interface FakeGuest {
  spec: GuestSpec;
  power: PowerState;
  log: string[];
}

export interface FakeDriverOptions {
  inventory?: Partial<HostInventory>;
  /** Make spawn fail for some specs (tests of build failure and cleanup). */
  failSpawn?: (spec: GuestSpec) => string | null;
  /** Make snapshot fail for some guests (tests of snapshot failure and cleanup). */
  failSnapshot?: (instanceId: string) => string | null;
}

export class FakeDriver implements HypervisorDriver {
  readonly name = 'fake';
  readonly capabilities: Readonly<DriverCapabilities> = {
    liveMigration: false,
    consoleLog: true,
    lifecycleEvents: false,
  };
  private readonly guests = new Map<string, FakeGuest>();

  constructor(private readonly options: FakeDriverOptions = {}) {}

  async inventory(): Promise<HostInventory> {
    return {
      vcpus: 16,
      memoryMb: 32768,
      diskGb: 500,
      hypervisorType: 'fake',
      hypervisorVersion: 1000,
      architecture: 'x86_64',
      cpuInfo: JSON.stringify({
        arch: 'x86_64',
        model: 'fake',
        topology: { sockets: 1, cores: 16, threads: 1 },
      }),
      ...this.options.inventory,
    };
  }

  async spawn(spec: GuestSpec): Promise<GuestInfo> {
    if (this.guests.has(spec.instanceId)) {
      throw new AppError('Conflict', `a guest for instance ${spec.instanceId} already exists`);
    }
    if (
      !Number.isInteger(spec.vcpus) ||
      spec.vcpus < 1 ||
      !Number.isInteger(spec.memoryMb) ||
      spec.memoryMb < 1
    ) {
      throw new AppError('Invalid', 'a guest needs at least one vCPU and 1 MB of memory');
    }
    const failure = this.options.failSpawn?.(spec) ?? null;
    if (failure !== null) throw new AppError('Internal', failure);
    this.guests.set(spec.instanceId, {
      spec,
      power: POWER_STATE.RUNNING,
      log: [`fake guest ${spec.instanceId} booted`],
    });
    return this.getInfo(spec.instanceId);
  }

  async destroy(instanceId: string): Promise<void> {
    this.guests.delete(instanceId);
  }

  async powerOn(instanceId: string): Promise<void> {
    const guest = this.guest(instanceId);
    if (guest.power !== POWER_STATE.RUNNING) guest.log.push('fake guest powered on');
    guest.power = POWER_STATE.RUNNING;
  }

  async powerOff(instanceId: string): Promise<void> {
    const guest = this.guest(instanceId);
    if (guest.power !== POWER_STATE.SHUTDOWN) guest.log.push('fake guest powered off');
    guest.power = POWER_STATE.SHUTDOWN;
  }

  async reboot(instanceId: string, type: RebootType): Promise<void> {
    const guest = this.guest(instanceId);
    guest.log.push(`fake guest rebooted (${type})`);
    guest.power = POWER_STATE.RUNNING;
  }

  /** A fake disk: a small file naming the guest and its image, so uploads have content. */
  async snapshot(instanceId: string, destFile: string): Promise<SnapshotFile> {
    const guest = this.guest(instanceId);
    const failure = this.options.failSnapshot?.(instanceId) ?? null;
    if (failure !== null) throw new AppError('Internal', failure);
    const content = Buffer.from(`strato fake disk of ${instanceId} from image ${guest.spec.imageId}\n`);
    await writeFile(destFile, content);
    guest.log.push('fake guest disk snapshotted');
    return { format: 'raw', size: content.length };
  }

  async getInfo(instanceId: string): Promise<GuestInfo> {
    const guest = this.guest(instanceId);
    return {
      instanceId,
      powerState: guest.power,
      vcpus: guest.spec.vcpus,
      memoryMb: guest.spec.memoryMb,
      cpuTimeNs: 0,
    };
  }

  async list(): Promise<GuestInfo[]> {
    return Promise.all([...this.guests.keys()].map((id) => this.getInfo(id)));
  }

  async consoleOutput(instanceId: string, lines: number | null): Promise<string> {
    return tailLines(`${this.guest(instanceId).log.join('\n')}\n`, lines);
  }

  async watchPowerStates(): Promise<boolean> {
    return false;
  }

  async close(): Promise<void> {}

  /** Test hook: the guest changes power state behind the agent's back (e.g. shut down inside). */
  simulatePowerChange(instanceId: string, power: PowerState): void {
    this.guest(instanceId).power = power;
  }

  /** Test hook: the spec a guest was spawned with. */
  specOf(instanceId: string): GuestSpec {
    return this.guest(instanceId).spec;
  }

  private guest(instanceId: string): FakeGuest {
    const guest = this.guests.get(instanceId);
    if (!guest) throw new AppError('NotFound', `Instance ${instanceId} could not be found.`);
    return guest;
  }
}
