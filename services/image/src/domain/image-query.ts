/**
 * GET /v2/images query parameters as Glance reads them: filters on base attributes (with the
 * `in:` operator for lists and gt/gte/lt/lte/eq/neq for times), tags, member_status, any
 * other name as a property filter, limit/marker paging and both sort syntaxes.
 */
import { invalid } from '@strato/errors';
import { MEMBER_STATUSES, VISIBILITIES, type MemberStatus, type Visibility } from './image';

export const SORT_KEYS = [
  'name',
  'status',
  'container_format',
  'disk_format',
  'size',
  'virtual_size',
  'id',
  'created_at',
  'updated_at',
  'visibility',
  'owner',
  'min_disk',
  'min_ram',
] as const;
export type SortKey = (typeof SORT_KEYS)[number];
export type SortDir = 'asc' | 'desc';
export interface SortSpec {
  key: SortKey;
  dir: SortDir;
}

export const TIME_OPERATORS = ['gt', 'gte', 'lt', 'lte', 'eq', 'neq'] as const;
export type TimeOperator = (typeof TIME_OPERATORS)[number];
export interface TimeFilter {
  field: 'created_at' | 'updated_at';
  op: TimeOperator;
  at: Date;
}

/** Columns that accept `name=value` or `name=in:a,b`. */
export const LIST_FILTER_FIELDS = [
  'id',
  'name',
  'status',
  'disk_format',
  'container_format',
  'checksum',
  'os_hash_value',
] as const;
export type ListFilterField = (typeof LIST_FILTER_FIELDS)[number];

export interface ImageFilters {
  /** Each field matches any of its values. */
  in: Partial<Record<ListFilterField, string[]>>;
  /** Unset: the default list (own, public, accepted shared; community only if own). */
  visibility: Visibility | 'all' | null;
  owner: string | null;
  /** Every tag must be present. */
  tags: string[];
  memberStatus: MemberStatus | 'all';
  osHidden: boolean;
  protected: boolean | null;
  sizeMin: number | null;
  sizeMax: number | null;
  times: TimeFilter[];
  /** Exact matches on extra properties. */
  properties: Record<string, string>;
}

export interface ListCriteria {
  limit: number;
  marker: string | null;
  /** Always ends with id, so the order is total and markers are exact. */
  sort: SortSpec[];
  filters: ImageFilters;
}

export interface ListLimits {
  defaultLimit: number;
  maxLimit: number;
}

export type Query = Readonly<Record<string, string | string[] | undefined>>;

const PAGING_AND_SORT = new Set(['limit', 'marker', 'sort', 'sort_key', 'sort_dir']);

function all(query: Query, name: string): string[] {
  const v = query[name];
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

function one(query: Query, name: string): string | null {
  const values = all(query, name);
  if (values.length > 1) throw invalid(`Parameter ${name} may be given only once.`);
  return values[0] ?? null;
}

function boolParam(query: Query, name: string): boolean | null {
  const v = one(query, name);
  if (v === null) return null;
  const lower = v.toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(lower)) return true;
  if (['false', '0', 'no', 'off'].includes(lower)) return false;
  throw invalid(`Invalid value for ${name}: ${v}. It should be a boolean.`);
}

function intParam(query: Query, name: string): number | null {
  const v = one(query, name);
  if (v === null) return null;
  if (!/^\d+$/.test(v)) throw invalid(`${name} param must be an integer`);
  return Number(v);
}

function parseLimit(query: Query, limits: ListLimits): number {
  const v = one(query, 'limit');
  if (v === null) return limits.defaultLimit;
  if (!/^-?\d+$/.test(v)) throw invalid('limit param must be an integer');
  const n = Number(v);
  if (n < 0) throw invalid('limit param must be positive');
  return Math.min(n, limits.maxLimit);
}

function sortKey(value: string): SortKey {
  if (!(SORT_KEYS as readonly string[]).includes(value)) {
    throw invalid(`Invalid sort key: ${value}. It should be one of the following: ${SORT_KEYS.join(', ')}.`);
  }
  return value as SortKey;
}

function sortDir(value: string): SortDir {
  if (value !== 'asc' && value !== 'desc') throw invalid(`Invalid sort direction: ${value}`);
  return value;
}

export function parseSort(query: Query): SortSpec[] {
  const sort = all(query, 'sort');
  const keys = all(query, 'sort_key');
  const dirs = all(query, 'sort_dir');
  let specs: SortSpec[];
  if (sort.length > 0) {
    if (keys.length > 0 || dirs.length > 0) {
      throw invalid('The sort parameter can not be combined with sort_key or sort_dir.');
    }
    specs = sort
      .join(',')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .map((item) => {
        const [key = '', dir, extra] = item.split(':');
        if (extra !== undefined) throw invalid(`Invalid sort value: ${item}`);
        return { key: sortKey(key), dir: dir === undefined ? 'desc' : sortDir(dir) };
      });
  } else {
    if (dirs.length > 0 && keys.length === 0) throw invalid('sort_dir requires sort_key.');
    if (dirs.length > 1 && dirs.length !== keys.length) {
      throw invalid('Number of sort dirs does not match the number of sort keys');
    }
    specs = keys.map((k, i) => ({ key: sortKey(k), dir: sortDir(dirs[dirs.length > 1 ? i : 0] ?? 'desc') }));
  }
  const seen = new Set<string>();
  for (const s of specs) {
    if (seen.has(s.key)) throw invalid(`Sort key ${s.key} is given more than once.`);
    seen.add(s.key);
  }
  if (specs.length === 0) specs = [{ key: 'created_at', dir: 'desc' }];
  if (!seen.has('id')) specs.push({ key: 'id', dir: specs[specs.length - 1]!.dir });
  return specs;
}

function parseTime(field: 'created_at' | 'updated_at', value: string): TimeFilter {
  const at = value.indexOf(':');
  const op = at > 0 ? value.slice(0, at) : '';
  if (!(TIME_OPERATORS as readonly string[]).includes(op)) {
    throw invalid(`Invalid operator in ${field}: ${value}. Use one of ${TIME_OPERATORS.join(', ')}.`);
  }
  const when = new Date(value.slice(at + 1));
  if (Number.isNaN(when.getTime())) throw invalid(`Invalid time format for ${field}.`);
  return { field, op: op as TimeOperator, at: when };
}

export function parseListQuery(query: Query, limits: ListLimits): ListCriteria {
  const filters: ImageFilters = {
    in: {},
    visibility: null,
    owner: one(query, 'owner'),
    tags: [...all(query, 'tag'), ...all(query, 'tags')],
    memberStatus: 'accepted',
    osHidden: boolParam(query, 'os_hidden') ?? false,
    protected: boolParam(query, 'protected'),
    sizeMin: intParam(query, 'size_min'),
    sizeMax: intParam(query, 'size_max'),
    times: [],
    properties: Object.create(null) as Record<string, string>,
  };
  const visibility = one(query, 'visibility');
  if (visibility !== null) {
    if (visibility !== 'all' && !(VISIBILITIES as readonly string[]).includes(visibility)) {
      throw invalid(`Invalid visibility value: ${visibility}`);
    }
    filters.visibility = visibility as Visibility | 'all';
  }
  const memberStatus = one(query, 'member_status');
  if (memberStatus !== null) {
    if (memberStatus !== 'all' && !(MEMBER_STATUSES as readonly string[]).includes(memberStatus)) {
      throw invalid(`Invalid status value: ${memberStatus}`);
    }
    filters.memberStatus = memberStatus as MemberStatus | 'all';
  }
  for (const field of LIST_FILTER_FIELDS) {
    const v = one(query, field);
    if (v === null) continue;
    filters.in[field] = v.startsWith('in:') ? splitList(v.slice(3)) : [v];
  }
  for (const field of ['created_at', 'updated_at'] as const) {
    for (const v of all(query, field)) filters.times.push(parseTime(field, v));
  }
  const known = new Set<string>([
    ...PAGING_AND_SORT,
    ...LIST_FILTER_FIELDS,
    'visibility',
    'owner',
    'tag',
    'tags',
    'member_status',
    'os_hidden',
    'protected',
    'size_min',
    'size_max',
    'created_at',
    'updated_at',
  ]);
  for (const name of Object.keys(query)) {
    if (known.has(name)) continue;
    const v = one(query, name);
    if (v !== null) filters.properties[name] = v;
  }
  return { limit: parseLimit(query, limits), marker: one(query, 'marker'), sort: parseSort(query), filters };
}

/** "a,b" or '"a,1",b': comma-separated, with double quotes around values that hold commas. */
export function splitList(value: string): string[] {
  const out: string[] = [];
  let current = '';
  let quoted = false;
  for (const ch of value) {
    if (ch === '"') quoted = !quoted;
    else if (ch === ',' && !quoted) {
      out.push(current);
      current = '';
    } else current += ch;
  }
  if (quoted) throw invalid('Invalid filter value: unbalanced quotes.');
  out.push(current);
  return out;
}
