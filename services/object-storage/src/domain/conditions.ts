/**
 * HTTP semantics both APIs share, as pure functions: byte ranges (RFC 9110 §14) and
 * conditional requests (If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since).
 */

export interface ByteRange {
  start: number;
  /** Inclusive. */
  end: number;
}

/**
 * Parses a Range header for an object of `size` bytes: undefined means serve the whole
 * object (no header, a malformed one, or several ranges); 'unsatisfiable' means 416.
 */
export function parseRange(
  header: string | undefined,
  size: number,
): ByteRange | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return undefined;
  const [, first, last] = m;
  if (first === '' && last === '') return undefined;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0) return 'unsatisfiable';
    return size === 0 ? 'unsatisfiable' : { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (last !== '' && Number(last) < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

export interface Validators {
  /** The entity tag as sent in ETag (quotes optional). */
  etag: string;
  lastModifiedMs: number;
}

export interface ConditionHeaders {
  ifMatch?: string | undefined;
  ifNoneMatch?: string | undefined;
  ifModifiedSince?: string | undefined;
  ifUnmodifiedSince?: string | undefined;
}

function unquote(tag: string): string {
  const t = tag.trim().replace(/^W\//, '');
  return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1) : t;
}

function matches(list: string, etag: string): boolean {
  const want = unquote(etag);
  return list.split(',').some((t) => t.trim() === '*' || unquote(t) === want);
}

/** Seconds resolution, as HTTP dates carry. */
function seconds(ms: number): number {
  return Math.floor(ms / 1000);
}

/** 'ok', 'not-modified' (304 for GET/HEAD) or 'failed' (412). */
export function evaluateConditions(
  h: ConditionHeaders,
  v: Validators,
  method: string,
): 'ok' | 'not-modified' | 'failed' {
  if (h.ifMatch !== undefined) {
    if (!matches(h.ifMatch, v.etag)) return 'failed';
  } else if (h.ifUnmodifiedSince !== undefined) {
    const since = Date.parse(h.ifUnmodifiedSince);
    if (!Number.isNaN(since) && seconds(v.lastModifiedMs) > seconds(since)) return 'failed';
  }
  const safe = method === 'GET' || method === 'HEAD';
  if (h.ifNoneMatch !== undefined) {
    if (matches(h.ifNoneMatch, v.etag)) return safe ? 'not-modified' : 'failed';
  } else if (h.ifModifiedSince !== undefined && safe) {
    const since = Date.parse(h.ifModifiedSince);
    if (!Number.isNaN(since) && seconds(v.lastModifiedMs) <= seconds(since)) return 'not-modified';
  }
  return 'ok';
}
