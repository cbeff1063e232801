/**
 * Flavor extra_specs, as Nova names them, turned into libvirt resource controls. Pure: the
 * driver puts the result into the domain XML (cputune, iotune on each writable disk,
 * <bandwidth> on the NIC). Keys this module does not know are left alone (they may be meant
 * for the scheduler, e.g. capabilities:*). A known key with a value libvirt cannot take is
 * 'Invalid', so the build fails with a message naming the key instead of starting a guest
 * without its limit.
 *
 *   quota:cpu_shares          cputune/shares   relative weight, 1-262144
 *   quota:cpu_period          cputune/period   µs, 1000-1000000
 *   quota:cpu_quota           cputune/quota    µs per period, >= 1000, or -1 (no limit)
 *   hw:cpu_policy=dedicated   cputune/vcpupin  each vCPU on its own host CPU (best effort)
 *   quota:disk_{read,write,total}_{bytes,iops}_sec   iotune   0 = no limit
 *   quota:vif_{inbound,outbound}_{average,peak,burst} bandwidth  KiB/s (burst KiB), 0 = none
 */
import { AppError } from '@strato/errors';
import type { BandwidthLimit, CpuTune, DiskIoTune, VcpuPin } from '@strato/libvirt';

export interface ResourceControls {
  /** cputune shares/period/quota (vCPU pins are chosen later, see pinVcpus). */
  cputune?: CpuTune;
  /** hw:cpu_policy=dedicated: pin each vCPU to a host CPU of its own. */
  dedicatedCpus: boolean;
  /** Applied to every writable disk of the guest. */
  iotune?: DiskIoTune;
  bandwidth?: { inbound?: BandwidthLimit; outbound?: BandwidthLimit };
}

const INTEGER_RE = /^-?\d{1,18}$/;

function invalid(key: string, value: string, rule: string): AppError {
  return new AppError('Invalid', `Invalid flavor extra spec ${key}=${JSON.stringify(value)}: ${rule}.`);
}

/** The integer value of `key`, undefined when absent. */
function integer(specs: Readonly<Record<string, string>>, key: string): number | undefined {
  const raw = specs[key];
  if (raw === undefined) return undefined;
  const text = raw.trim();
  if (!INTEGER_RE.test(text)) throw invalid(key, raw, 'must be an integer');
  return Number(text);
}

function inRange(
  specs: Readonly<Record<string, string>>,
  key: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  const value = integer(specs, key);
  if (value !== undefined && (value < min || value > max)) {
    throw invalid(key, specs[key]!, `must be between ${min} and ${max}`);
  }
  return value;
}

/** A limit where 0 means "no limit" (left out of the XML). */
function limit(specs: Readonly<Record<string, string>>, key: string): number | undefined {
  const value = inRange(specs, key, 0);
  return value === 0 ? undefined : value;
}

function cpuControls(specs: Readonly<Record<string, string>>): CpuTune | undefined {
  const shares = inRange(specs, 'quota:cpu_shares', 1, 262_144);
  const period = inRange(specs, 'quota:cpu_period', 1000, 1_000_000);
  const quota = integer(specs, 'quota:cpu_quota');
  if (quota !== undefined && quota !== -1 && quota < 1000) {
    throw invalid('quota:cpu_quota', specs['quota:cpu_quota']!, 'must be -1 (no limit) or at least 1000');
  }
  if (quota !== undefined && quota > 17_592_186_044_415) {
    throw invalid('quota:cpu_quota', specs['quota:cpu_quota']!, 'is too large');
  }
  const tune: CpuTune = {
    ...(shares !== undefined ? { shares } : {}),
    ...(period !== undefined ? { period } : {}),
    ...(quota !== undefined ? { quota } : {}),
  };
  return Object.keys(tune).length > 0 ? tune : undefined;
}

function cpuPolicy(specs: Readonly<Record<string, string>>): boolean {
  const policy = specs['hw:cpu_policy'];
  if (policy === undefined || policy === 'shared') return false;
  if (policy === 'dedicated') return true;
  throw invalid('hw:cpu_policy', policy, "must be 'shared' or 'dedicated'");
}

function diskControls(specs: Readonly<Record<string, string>>): DiskIoTune | undefined {
  const tune: DiskIoTune = {};
  const fields: readonly (readonly [keyof DiskIoTune, string])[] = [
    ['totalBytesSec', 'quota:disk_total_bytes_sec'],
    ['readBytesSec', 'quota:disk_read_bytes_sec'],
    ['writeBytesSec', 'quota:disk_write_bytes_sec'],
    ['totalIopsSec', 'quota:disk_total_iops_sec'],
    ['readIopsSec', 'quota:disk_read_iops_sec'],
    ['writeIopsSec', 'quota:disk_write_iops_sec'],
  ];
  for (const [field, key] of fields) {
    const value = limit(specs, key);
    if (value !== undefined) tune[field] = value;
  }
  if (tune.totalBytesSec !== undefined && (tune.readBytesSec ?? tune.writeBytesSec) !== undefined) {
    throw new AppError(
      'Invalid',
      'Invalid flavor extra specs: quota:disk_total_bytes_sec cannot be combined with quota:disk_read_bytes_sec or quota:disk_write_bytes_sec.',
    );
  }
  if (tune.totalIopsSec !== undefined && (tune.readIopsSec ?? tune.writeIopsSec) !== undefined) {
    throw new AppError(
      'Invalid',
      'Invalid flavor extra specs: quota:disk_total_iops_sec cannot be combined with quota:disk_read_iops_sec or quota:disk_write_iops_sec.',
    );
  }
  return Object.keys(tune).length > 0 ? tune : undefined;
}

function vifLimit(
  specs: Readonly<Record<string, string>>,
  direction: 'inbound' | 'outbound',
): BandwidthLimit | undefined {
  const average = limit(specs, `quota:vif_${direction}_average`);
  const peak = limit(specs, `quota:vif_${direction}_peak`);
  const burst = limit(specs, `quota:vif_${direction}_burst`);
  if (average === undefined) {
    if (peak !== undefined || burst !== undefined) {
      throw new AppError(
        'Invalid',
        `Invalid flavor extra specs: quota:vif_${direction}_peak and _burst need quota:vif_${direction}_average.`,
      );
    }
    return undefined;
  }
  return {
    average,
    ...(peak !== undefined ? { peak } : {}),
    ...(burst !== undefined ? { burst } : {}),
  };
}

/** The resource controls a flavor's extra_specs ask for; 'Invalid' on a bad value. */
export function resourceControls(specs: Readonly<Record<string, string>>): ResourceControls {
  const cputune = cpuControls(specs);
  const iotune = diskControls(specs);
  const inbound = vifLimit(specs, 'inbound');
  const outbound = vifLimit(specs, 'outbound');
  return {
    ...(cputune ? { cputune } : {}),
    dedicatedCpus: cpuPolicy(specs),
    ...(iotune ? { iotune } : {}),
    ...(inbound || outbound
      ? { bandwidth: { ...(inbound ? { inbound } : {}), ...(outbound ? { outbound } : {}) } }
      : {}),
  };
}

/**
 * Chooses a host CPU for each vCPU of a guest with hw:cpu_policy=dedicated: the host CPUs
 * pinned by the fewest other guests (`pinnedByOthers`: host CPU -> guests pinned there),
 * lowest number first, never two vCPUs of this guest on one host CPU while there are CPUs
 * enough. Best effort: the scheduler does not track pinned CPUs, so when the host runs out of
 * free CPUs guests share them (the pins still keep each vCPU on one CPU). 'Invalid' when the
 * guest has more vCPUs than the host has CPUs.
 */
export function pinVcpus(
  vcpus: number,
  hostCpus: number,
  pinnedByOthers: ReadonlyMap<number, number>,
): VcpuPin[] {
  if (vcpus > hostCpus) {
    throw new AppError(
      'Invalid',
      `hw:cpu_policy=dedicated needs ${vcpus} host CPUs; this host has ${hostCpus}.`,
    );
  }
  const order = Array.from({ length: hostCpus }, (_, cpu) => cpu).sort(
    (a, b) => (pinnedByOthers.get(a) ?? 0) - (pinnedByOthers.get(b) ?? 0) || a - b,
  );
  return order.slice(0, vcpus).map((cpu, vcpu) => ({ vcpu, cpuset: String(cpu) }));
}

/** Host CPUs named by <vcpupin cpuset='N'/> in domain XMLs, counted per CPU. */
export function pinnedCpus(domainXmls: readonly string[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const xml of domainXmls) {
    for (const match of xml.matchAll(/<vcpupin\b[^>]*\bcpuset=['"](\d+)['"]/g)) {
      const cpu = Number(match[1]);
      counts.set(cpu, (counts.get(cpu) ?? 0) + 1);
    }
  }
  return counts;
}
