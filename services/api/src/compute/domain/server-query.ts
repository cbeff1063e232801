/**
 * GET /servers query parameters, as Nova reads them: filters (name is a regular expression),
 * changes-since/changes-before, limit/marker paging (newest first) and all_tenants for admins.
 */
import { invalid } from '@strato/errors';
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

function isoParam(name: string, value: string | null): string | null {
  if (value === null) return null;
  const d = new Date(value.includes('T') || value.includes(' ') ? value : `${value}T00:00:00`);
  if (Number.isNaN(d.getTime()))
    throw invalid(`Invalid input for query parameters ${name}. Value: ${value}.`);
  return d.toISOString();
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

export function parseServerQuery(query: Query, admin: boolean): ServerQuery {
  const name = single(query, 'name');
  const status = single(query, 'status');
  const image = single(query, 'image');
  const flavor = single(query, 'flavor');
  const allTenants =
    admin &&
    query.all_tenants !== undefined &&
    (single(query, 'all_tenants') === '' || truthy(single(query, 'all_tenants')));
  const projectId = admin ? (single(query, 'project_id') ?? single(query, 'tenant_id')) : null;
  return {
    name: name !== null && name !== '' ? namePattern(name) : null,
    status: status !== null ? status.toUpperCase() : null,
    vmStates: status !== null ? vmStatesForStatus(status) : null,
    image: image !== null ? idFromRef(image) : null,
    flavor: flavor !== null ? idFromRef(flavor) : null,
    changesSince: isoParam('changes-since', single(query, 'changes-since')),
    changesBefore: isoParam('changes-before', single(query, 'changes-before')),
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
