/**
 * GET /servers query parameters, as Nova reads them: filters (name is a regular expression),
 * changes-since/changes-before, limit/marker paging (newest first) and all_tenants for admins.
 */
import { forbidden, invalid } from '@strato/errors';
import { serverStatus, vmStatesForStatus, type TaskState, type VmState } from './instance-state';

export const MAX_LIMIT = 1000;

export interface ServerQuery {
  /** A name regex that compiles (see namePattern), matched with NAME_FLAGS. */
  name: string | null;
  status: string | null;
  /** vm_states the status can show; null: no status filter; []: nothing can match. */
  vmStates: VmState[] | null;
  image: string | null;
  flavor: string | null;
  changesSince: string | null;
  changesBefore: string | null;
  limit: number;
  marker: string | null;
  allTenants: boolean;
  /** Admin only: narrow to one project (project_id or tenant_id). */
  projectId: string | null;
  /** Query parameters to repeat in a next link (everything but limit and marker). */
  passThrough: Record<string, string>;
}

type Query = Record<string, unknown>;

function single(query: Query, key: string): string | null {
  const value = query[key];
  if (value === undefined) return null;
  if (Array.isArray(value)) return single({ [key]: value[value.length - 1] as unknown }, key);
  return typeof value === 'string' ? value : null;
}

const TRUE = new Set(['1', 'true', 't', 'yes', 'y', 'on']);
export function truthy(value: string | null): boolean {
  return value !== null && TRUE.has(value.toLowerCase());
}

/** A last path segment of an href (imageRef, flavorRef and filters accept links too). */
export function idFromRef(ref: string): string {
  const trimmed = ref.replace(/\/+$/, '');
  const at = trimmed.lastIndexOf('/');
  return at >= 0 ? trimmed.slice(at + 1) : trimmed;
}

/**
 * ISO 8601 as Nova's parser (the iso8601 package) takes it: a year; then a month and a day,
 * extended (-1, -01) or basic (0101); then a time after T or a space (hours, then optional
 * minutes and seconds with or without colons, a fraction), then Z or an offset. Missing
 * parts are the first month, day or second; no zone is UTC.
 */
const ISO_TIME = new RegExp(
  '^(?<y>\\d{4})' +
    '(?:(?:-(?<mo1>\\d{1,2})|(?<mo2>\\d{2})(?!$))' +
    '(?:(?:-(?<d1>\\d{1,2})|(?<d2>\\d{2}))' +
    '(?:[T ](?<h>\\d{2})(?::?(?<mi>\\d{2}))?(?::?(?<s>\\d{1,2})(?:[.,](?<f>\\d+))?)?' +
    '(?<tz>Z|[+-]\\d{2}(?::?\\d{2})?)?)?)?)?$',
  'i',
);

/** A timestamp of a query, as ISO UTC; a malformed one, or no such day (02-30), is a 400. */
function isoParam(name: string, value: string | null): string | null {
  if (value === null) return null;
  const refuse = () =>
    invalid(`Invalid input for query parameters ${name}. Value: ${value}. is not a 'date-time'`);
  const g = ISO_TIME.exec(value)?.groups;
  if (!g) throw refuse();
  const num = (v: string | undefined, fallback: number) => (v === undefined ? fallback : Number(v));
  const y = Number(g.y);
  const mo = num(g.mo1 ?? g.mo2, 1);
  const d = num(g.d1 ?? g.d2, 1);
  const [h, mi, sec] = [num(g.h, 0), num(g.mi, 0), num(g.s, 0)];
  const ms = Math.floor(Number(`0.${g.f ?? '0'}`) * 1000);
  const at = new Date(Date.UTC(2000, mo - 1, d, h, mi, sec, ms));
  at.setUTCFullYear(y, mo - 1, d); // years below 100 are years, not 19xx
  // Date.UTC rolls 02-30 over to 03-01 and 24:00 to the next day: such a value names no time.
  const exists = y > 0 && at.getUTCMonth() === mo - 1 && at.getUTCDate() === d;
  if (!exists || h > 23 || mi > 59 || sec > 59) throw refuse();
  const zone = g.tz?.toUpperCase() ?? 'Z';
  if (zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    const offset = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || 0);
    at.setTime(at.getTime() - sign * offset * 60_000);
  }
  return at.toISOString();
}

/** The query parameters a next link repeats: all but limit and marker (the last of a repeated one). */
export function passThroughOf(query: Query): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(query)) {
    if (key === 'limit' || key === 'marker') continue;
    const v = single(query, key);
    if (v !== null) out[key] = v;
  }
  return out;
}

export function parseLimit(value: string | null): number {
  if (value === null) return MAX_LIMIT;
  if (!/^\d+$/.test(value.trim())) throw invalid('limit param must be an integer');
  return Math.min(Number(value), MAX_LIMIT);
}

/** Flags of the name filter: case-insensitive, unanchored, as Nova reads it. */
export const NAME_FLAGS = 'i';

/**
 * A user's name filter as a pattern that compiles: theirs, or, if it does not compile, theirs
 * escaped (matched as literal text). It is matched in a worker thread (see RegexWorker).
 */
export function namePattern(pattern: string): string {
  try {
    new RegExp(pattern, NAME_FLAGS);
    return pattern;
  } catch {
    return pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
}

/** Every status Nova's state map can show, whether or not Strato has the states behind it. */
const NOVA_STATUSES: ReadonlySet<string> = new Set([
  'ACTIVE',
  'BUILD',
  'CONFIRMING_RESIZE',
  'DELETED',
  'ERROR',
  'HARD_REBOOT',
  'MIGRATING',
  'PASSWORD',
  'PAUSED',
  'REBOOT',
  'REBUILD',
  'RESCUE',
  'RESIZE',
  'REVERT_RESIZE',
  'SHELVED',
  'SHELVED_OFFLOADED',
  'SHUTOFF',
  'SOFT_DELETED',
  'SUSPENDED',
  'VERIFY_RESIZE',
]);

export interface ServerQueryOptions {
  admin: boolean;
  /** /servers/detail (for the policy name a refusal gives). */
  detail: boolean;
  /** From 2.38 an unknown status is a 400; before, it matches nothing. */
  strictStatus: boolean;
}

export function parseServerQuery(query: Query, opts: ServerQueryOptions): ServerQuery {
  const { admin } = opts;
  const name = single(query, 'name');
  const status = single(query, 'status');
  const image = single(query, 'image');
  const flavor = single(query, 'flavor');
  const allTenants =
    query.all_tenants !== undefined &&
    (single(query, 'all_tenants') === '' || truthy(single(query, 'all_tenants')));
  if (allTenants && !admin) {
    const rule = `os_compute_api:servers:${opts.detail ? 'detail' : 'index'}:get_all_tenants`;
    throw forbidden(`Policy doesn't allow ${rule} to be performed.`);
  }
  const projectId = admin ? (single(query, 'project_id') ?? single(query, 'tenant_id')) : null;
  const vmStates = status !== null ? vmStatesForStatus(status) : null;
  if (opts.strictStatus && status !== null && !NOVA_STATUSES.has(status.toUpperCase())) {
    throw invalid('Invalid status value');
  }
  const changesSince = isoParam('changes-since', single(query, 'changes-since'));
  const changesBefore = isoParam('changes-before', single(query, 'changes-before'));
  if (changesSince !== null && changesBefore !== null && changesBefore < changesSince) {
    throw invalid('The value of changes-since must be less than or equal to changes-before.');
  }
  return {
    name: name !== null && name !== '' ? namePattern(name) : null,
    status: status !== null ? status.toUpperCase() : null,
    vmStates,
    image: image !== null ? idFromRef(image) : null,
    flavor: flavor !== null ? idFromRef(flavor) : null,
    changesSince,
    changesBefore,
    limit: parseLimit(single(query, 'limit')),
    marker: single(query, 'marker'),
    allTenants,
    projectId,
    passThrough: passThroughOf(query),
  };
}

/** The check that is not done in SQL (nor by the name filter's worker): the exact status. */
export function matchesStatus(
  q: Pick<ServerQuery, 'status'>,
  row: { vmState: VmState; taskState: TaskState | null },
): boolean {
  return !q.status || serverStatus(row.vmState, row.taskState) === q.status;
}
