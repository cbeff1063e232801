/**
 * GET /servers query parameters, as Nova reads them: filters (name is a regular expression),
 * changes-since/changes-before, limit/marker paging (newest first) and all_tenants for admins.
 */
import { setFlagsFromString } from 'node:v8';
import { invalid } from '@strato/errors';
import { serverStatus, vmStatesForStatus, type TaskState, type VmState } from './instance-state';

export const MAX_LIMIT = 1000;

export interface ServerQuery {
  name: NameMatcher | null;
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

/** A name filter: true when the server's name matches. */
export type NameMatcher = (name: string) => boolean;

// The name filter is a user's regular expression run on the api's event loop: with the default
// (backtracking) engine, `^(a+)+$` against a name of forty a's and a '!' takes minutes and stalls
// every request of the process. V8's linear-time engine (the 'l' flag, behind this flag in
// Node.js 20; it only changes regular expressions that ask for it) runs in time proportional
// to the name whatever the pattern.
setFlagsFromString('--enable-experimental-regexp-engine');

/**
 * The pattern in lower case, so that it can match a lower-cased name (the linear engine has no
 * 'i' flag), except \S, \W, \D and \B, which mean something else in lower case.
 */
function lowerCasePattern(pattern: string): string {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\' && i + 1 < pattern.length) {
      const next = pattern[++i]!;
      // Any other escaped capital is the letter itself (\Q is Q): write it as one, in lower
      // case (escaped in lower case it could become \c, \k, \u or \x, which mean more).
      if (/[A-Z]/.test(next) && !'SWDB'.includes(next)) out += next.toLowerCase();
      else out += c + next;
    } else out += c.toLowerCase();
  }
  return out;
}

/**
 * A user's name filter as an unanchored case-insensitive regular expression, as Nova reads it,
 * run in linear time. What the linear engine cannot run (back-references, look-arounds) or what
 * does not compile is matched as literal text.
 */
export function nameMatcher(pattern: string): NameMatcher {
  try {
    // eslint-disable-next-line no-invalid-regexp -- 'l' (linear) is V8's, enabled above
    const re = new RegExp(lowerCasePattern(pattern), 'l');
    return (name) => re.test(name.toLowerCase());
  } catch {
    const literal = pattern.toLowerCase();
    return (name) => name.toLowerCase().includes(literal);
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
    name: name !== null && name !== '' ? nameMatcher(name) : null,
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

/** The checks that are not done in SQL: name regex and the exact status. */
export function matchesInMemory(
  q: Pick<ServerQuery, 'name' | 'status'>,
  row: { name: string; vmState: VmState; taskState: TaskState | null },
): boolean {
  if (q.name && !q.name(row.name)) return false;
  if (q.status && serverStatus(row.vmState, row.taskState) !== q.status) return false;
  return true;
}
