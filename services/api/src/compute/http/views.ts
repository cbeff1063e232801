/** JSON views of compute resources, field by field as Nova shows them per microversion. */
import { createHash } from 'node:crypto';
import type { HostSummary } from '@strato/contracts';
import type { ApiVersion } from '../domain/microversion';
import { serverStatus } from '../domain/instance-state';
import type { FlavorRow, InstanceRow, KeypairRow, ServerGroupRow } from '../store';
import type { Urls } from './context';

export function flavorSummary(f: FlavorRow, mv: ApiVersion, urls: Urls): Record<string, unknown> {
  return {
    id: f.id,
    name: f.name,
    ...(mv.atLeast(55) ? { description: f.description } : {}),
    links: urls.links('flavors', f.id),
  };
}

export function flavorView(f: FlavorRow, mv: ApiVersion, urls: Urls): Record<string, unknown> {
  return {
    id: f.id,
    name: f.name,
    ram: f.ramMb,
    disk: f.diskGb,
    swap: mv.atLeast(75) ? f.swapMb : f.swapMb === 0 ? '' : f.swapMb,
    'OS-FLV-EXT-DATA:ephemeral': f.ephemeralGb,
    'OS-FLV-DISABLED:disabled': f.disabled,
    vcpus: f.vcpus,
    'os-flavor-access:is_public': f.isPublic,
    rxtx_factor: f.rxtxFactor,
    links: urls.links('flavors', f.id),
    ...(mv.atLeast(55) ? { description: f.description } : {}),
    ...(mv.atLeast(61) ? { extra_specs: f.extraSpecs } : {}),
  };
}

/** Nova's hostId: an opaque per-project hash of the host name. */
export function hostId(projectId: string, host: string | null): string {
  if (!host) return '';
  const key = `${projectId}\n${host}`;
  let id = hostIds.get(key);
  if (id === undefined) {
    id = createHash('sha224')
      .update(projectId + host)
      .digest('hex');
    if (hostIds.size >= HOST_IDS_KEPT) hostIds.clear();
    hostIds.set(key, id);
  }
  return id;
}

/**
 * hostIds already computed: a listing shows the same few (project, host) pairs on every row,
 * and a hash per row was a measurable part of GET /servers/detail. Bounded; cleared when full.
 */
const hostIds = new Map<string, string>();
const HOST_IDS_KEPT = 10_000;

/** Nova's "2026-11-26T02:18:08Z" for created/updated. */
export function isoSeconds(iso: string): string {
  return `${iso.slice(0, 19)}Z`;
}

/** Nova's "2026-11-26T02:18:09.000000" for launched_at/terminated_at. */
export function isoMicros(iso: string | null): string | null {
  return iso ? `${iso.slice(0, 19)}.${iso.slice(20, 23)}000` : null;
}

export function hostStatus(host: string | null, hosts: HostSummary[] | null): string {
  if (!host) return '';
  const h = hosts?.find((x) => x.host === host);
  if (!h) return 'UNKNOWN';
  if (h.state === 'down') return 'DOWN';
  return h.status === 'disabled' ? 'MAINTENANCE' : 'UP';
}

export interface ServerViewContext {
  mv: ApiVersion;
  admin: boolean;
  urls: Urls;
  /** For host_status (2.16+, admin); null when unknown. */
  hosts: HostSummary[] | null;
  defaultZone: string;
  /** Server show (and update) add server_groups at 2.71+. */
  show: boolean;
}

const PROGRESS_STATUSES = new Set(['ACTIVE', 'BUILD', 'REBUILD', 'RESIZE', 'VERIFY_RESIZE', 'MIGRATING']);

export function serverSummary(row: InstanceRow, urls: Urls): Record<string, unknown> {
  return { id: row.id, name: row.name, links: urls.links('servers', row.id) };
}

export function serverView(row: InstanceRow, ctx: ServerViewContext): Record<string, unknown> {
  const { mv, admin, urls } = ctx;
  const status = serverStatus(row.vmState, row.taskState);
  const zone = row.host ? (row.availabilityZone ?? ctx.defaultZone) : (row.availabilityZone ?? '');
  const flavor = mv.atLeast(47)
    ? {
        vcpus: row.flavor.vcpus,
        ram: row.flavor.ramMb,
        disk: row.flavor.diskGb,
        ephemeral: row.flavor.ephemeralGb,
        swap: row.flavor.swapMb,
        original_name: row.flavor.name,
        extra_specs: row.flavor.extraSpecs,
      }
    : { id: row.flavor.id, links: urls.bookmark('flavors', row.flavor.id) };
  const view: Record<string, unknown> = {
    id: row.id,
    name: row.name,
    status,
    tenant_id: row.projectId,
    user_id: row.userId,
    metadata: row.metadata,
    hostId: hostId(row.projectId, row.host),
    image: { id: row.imageId, links: urls.bookmark('images', row.imageId) },
    flavor,
    created: isoSeconds(row.createdAt),
    updated: isoSeconds(row.updatedAt),
    addresses: {},
    accessIPv4: row.accessIpv4,
    accessIPv6: row.accessIpv6,
    links: urls.links('servers', row.id),
    'OS-DCF:diskConfig': 'MANUAL',
  };
  if (PROGRESS_STATUSES.has(status)) view.progress = 0;
  Object.assign(view, {
    'OS-EXT-AZ:availability_zone': zone,
    config_drive: row.configDrive,
    key_name: row.keyName,
    'OS-SRV-USG:launched_at': isoMicros(row.launchedAt),
    'OS-SRV-USG:terminated_at': isoMicros(row.terminatedAt),
  });
  if (admin) {
    Object.assign(view, {
      'OS-EXT-SRV-ATTR:host': row.host,
      // The libvirt domain's own name, so an operator finds it with virsh.
      'OS-EXT-SRV-ATTR:instance_name': row.host ? `instance-${row.id}` : '',
      'OS-EXT-SRV-ATTR:hypervisor_hostname': row.host,
    });
    if (mv.atLeast(3)) {
      Object.assign(view, {
        'OS-EXT-SRV-ATTR:reservation_id': row.reservationId,
        'OS-EXT-SRV-ATTR:launch_index': row.launchIndex,
        'OS-EXT-SRV-ATTR:hostname': row.hostname,
        'OS-EXT-SRV-ATTR:kernel_id': '',
        'OS-EXT-SRV-ATTR:ramdisk_id': '',
        'OS-EXT-SRV-ATTR:root_device_name': '/dev/vda',
        'OS-EXT-SRV-ATTR:user_data': row.userData,
      });
    }
  } else if (mv.atLeast(90)) {
    view['OS-EXT-SRV-ATTR:hostname'] = row.hostname;
  }
  Object.assign(view, {
    'OS-EXT-STS:task_state': row.taskState,
    'OS-EXT-STS:vm_state': row.vmState,
    'OS-EXT-STS:power_state': row.powerState,
    'os-extended-volumes:volumes_attached': [],
  });
  if (row.fault && (status === 'ERROR' || status === 'DELETED')) {
    view.fault = {
      code: row.fault.code,
      created: isoSeconds(row.fault.created),
      message: row.fault.message,
      ...(row.fault.details !== null && (admin || row.fault.code !== 500)
        ? { details: row.fault.details }
        : {}),
    };
  }
  if (mv.atLeast(16) && admin) view.host_status = hostStatus(row.host, ctx.hosts);
  if (mv.atLeast(9)) view.locked = row.locked;
  if (mv.atLeast(73)) view.locked_reason = null;
  if (mv.atLeast(19)) view.description = row.description;
  if (mv.atLeast(26)) view.tags = row.tags;
  if (mv.atLeast(63)) view.trusted_image_certificates = null;
  if (mv.atLeast(71) && ctx.show) view.server_groups = row.serverGroupId ? [row.serverGroupId] : [];
  return view;
}

export function keypairSummary(k: KeypairRow, mv: ApiVersion): Record<string, unknown> {
  return {
    keypair: {
      name: k.name,
      public_key: k.publicKey,
      fingerprint: k.fingerprint,
      ...(mv.atLeast(2) ? { type: k.type } : {}),
    },
  };
}

export function keypairView(k: KeypairRow, mv: ApiVersion): Record<string, unknown> {
  return {
    keypair: {
      name: k.name,
      public_key: k.publicKey,
      fingerprint: k.fingerprint,
      user_id: k.userId,
      ...(mv.atLeast(2) ? { type: k.type } : {}),
      created_at: `${k.createdAt.slice(0, 19)}.${k.createdAt.slice(20, 23)}000`,
      deleted: false,
      deleted_at: null,
      updated_at: null,
      id: k.id,
    },
  };
}

export function serverGroupView(
  g: ServerGroupRow & { members: string[] },
  mv: ApiVersion,
): Record<string, unknown> {
  if (mv.atLeast(64)) {
    return {
      id: g.id,
      name: g.name,
      policy: g.policy,
      rules: g.rules,
      members: g.members,
      project_id: g.projectId,
      user_id: g.userId,
    };
  }
  return {
    id: g.id,
    name: g.name,
    policies: [g.policy],
    members: g.members,
    metadata: {},
    ...(mv.atLeast(13) ? { project_id: g.projectId, user_id: g.userId } : {}),
  };
}
