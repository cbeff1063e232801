/**
 * The hypervisor contract (like nova's virt/driver.py). The doc comments are the contract;
 * LibvirtDriver and FakeDriver both pass the one suite in driver.contract.ts.
 *
 * General rules:
 * - Guests are named by the instance id only; libvirt names, UUIDs or handles never escape.
 * - Only Strato's guests are visible: anything else on the hypervisor is ignored.
 * - Failures are AppErrors with a stable kind: 'NotFound' (no such guest), 'Conflict' (it
 *   already exists), 'Invalid' (a spec the hypervisor refuses), 'Unavailable' (the
 *   hypervisor cannot be reached; retryable), 'Internal' (anything else).
 */
import type { Image, PowerState } from '@strato/contracts';

export interface GuestSpec {
  /** The instance UUID: the guest's identity. */
  instanceId: string;
  projectId: string;
  /** The user's name for it: free text, stored escaped, never used as an identifier. */
  displayName: string;
  flavorName: string;
  vcpus: number;
  memoryMb: number;
  /** Root disk size (0 = the image's own size). */
  rootDiskGb: number;
  /** Ephemeral disk size (0 = none). */
  ephemeralGb: number;
  /** The flavor's extra_specs as Nova names them (quota:cpu_shares, hw:cpu_policy, ...). */
  extraSpecs: Readonly<Record<string, string>>;
  imageId: string;
  /** The image to boot: checksum, format, size, properties (kernel_id, ramdisk_id, ...). */
  image: Image;
  /** Server metadata (goes to the config drive's meta_data.json). */
  metadata: Readonly<Record<string, string>>;
  /** Base64 user data for the config drive, when given. */
  userData: string | null;
  /** The key pair's public key for the config drive, when the server has one. */
  keyData: string | null;
  /** The key pair's name, when the server has one. */
  keyName: string | null;
}

/** What snapshot() wrote: a standalone disk image (no backing file). */
export interface SnapshotFile {
  format: 'qcow2' | 'raw';
  /** Bytes written. */
  size: number;
}

export interface GuestInfo {
  instanceId: string;
  powerState: PowerState;
  vcpus: number;
  memoryMb: number;
  /** CPU time used so far, in nanoseconds. */
  cpuTimeNs: number;
}

export interface HostInventory {
  /** CPUs usable by guests (before allocation ratio). */
  vcpus: number;
  memoryMb: number;
  diskGb: number;
  /** As os-hypervisors shows it: 'QEMU', 'test', 'fake'. */
  hypervisorType: string;
  /** major * 1_000_000 + minor * 1000 + release. */
  hypervisorVersion: number;
  architecture: string;
  /** JSON text: arch, model, topology. */
  cpuInfo: string;
}

export interface DriverCapabilities {
  liveMigration: boolean;
  /** consoleOutput returns what the guest wrote to its serial console. */
  consoleLog: boolean;
  /** watchPowerStates delivers changes as they happen (else the agent polls). */
  lifecycleEvents: boolean;
}

export type RebootType = 'SOFT' | 'HARD';

export interface HypervisorDriver {
  readonly name: string;
  readonly capabilities: Readonly<DriverCapabilities>;

  /** What this host offers guests. */
  inventory(): Promise<HostInventory>;

  /**
   * Creates and starts the guest, resolving once it runs. On failure nothing of it is left
   * behind (no definition, no files). A guest with this instance id already existing
   * rejects with 'Conflict' and leaves it untouched.
   */
  spawn(spec: GuestSpec): Promise<GuestInfo>;

  /** Stops the guest at once and removes it with its files; resolves even if it is already gone. */
  destroy(instanceId: string): Promise<void>;

  /** Starts a stopped guest; resolves if it already runs. 'NotFound' if there is none. */
  powerOn(instanceId: string): Promise<void>;

  /**
   * Stops the guest: ACPI shutdown, then a hard stop after the driver's grace period;
   * resolves once it is off (or if it already was). 'NotFound' if there is none.
   */
  powerOff(instanceId: string): Promise<void>;

  /** SOFT asks the guest to reboot; HARD stops and starts it. A stopped guest is started. */
  reboot(instanceId: string, type: RebootType): Promise<void>;

  /**
   * Writes a standalone, flattened copy of the guest's root disk (backing chain merged) to
   * destFile, consistent as of the call (a running guest is paused for the copy or copied
   * through the hypervisor, then resumed in its former state). 'NotFound' if there is none.
   */
  snapshot(instanceId: string, destFile: string): Promise<SnapshotFile>;

  /** The guest's state; 'NotFound' if there is none. */
  getInfo(instanceId: string): Promise<GuestInfo>;

  /** Every Strato guest on this host. */
  list(): Promise<GuestInfo[]>;

  /**
   * The console log: the last `lines` lines (all when null). Empty when the guest wrote
   * nothing (or the hypervisor keeps no log, see capabilities.consoleLog). 'NotFound' if no guest.
   */
  consoleOutput(instanceId: string, lines: number | null): Promise<string>;

  /**
   * Delivers power-state changes as they happen. Resolves false when the driver cannot
   * (then the caller polls). At most one watch per driver.
   */
  watchPowerStates(onChange: (instanceId: string) => void): Promise<boolean>;

  /** Releases the connection; in-flight calls finish first. */
  close(): Promise<void>;
}

/** The last `lines` lines of a text (all when null). */
export function tailLines(text: string, lines: number | null): string {
  if (lines === null) return text;
  if (lines <= 0) return '';
  const parts = text.split('\n');
  const trailing = parts.at(-1) === '' ? 1 : 0;
  return parts.slice(Math.max(0, parts.length - trailing - lines)).join('\n');
}
