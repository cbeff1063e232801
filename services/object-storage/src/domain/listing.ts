/**
 * Listings with a delimiter: names sharing the part of their key up to the delimiter (after
 * the prefix) fold into one common prefix ("subdir" in Swift, CommonPrefixes in S3). The
 * walk asks the store for pages in name order and jumps past each folded prefix, so a
 * directory of a million objects costs one query, not a million rows.
 */
import type { ListRange } from './records';
import { prefixEndOf } from './prefix';

export type ListEntry<T> = { kind: 'item'; item: T } | { kind: 'prefix'; prefix: string };

export interface ListingRequest {
  prefix?: string | undefined;
  delimiter?: string | undefined;
  /** Ascending: names after it. Reverse: names before it. */
  marker?: string | undefined;
  /** Ascending: names before it. Reverse: names after it. */
  endMarker?: string | undefined;
  limit: number;
  reverse?: boolean | undefined;
}

export interface Listing<T> {
  entries: ListEntry<T>[];
  /** More entries follow the last one returned. */
  truncated: boolean;
}

const PAGE = 1000;

export async function listWithDelimiter<T extends { name: string }>(
  fetch: (range: ListRange) => Promise<T[]>,
  req: ListingRequest,
): Promise<Listing<T>> {
  const prefix = req.prefix ?? '';
  const reverse = req.reverse ?? false;
  const delimiter = req.delimiter || undefined;
  const entries: ListEntry<T>[] = [];
  let range: ListRange = {
    prefix: prefix || undefined,
    limit: 0,
    reverse,
    ...(reverse
      ? { before: req.marker || undefined, after: req.endMarker || undefined }
      : { after: req.marker || undefined, before: req.endMarker || undefined }),
  };
  if (req.limit <= 0) return { entries, truncated: false };
  // A marker inside a folded prefix (S3 hands back the last CommonPrefix as the marker):
  // continue after everything under that prefix, not inside it.
  if (!reverse && delimiter && req.marker?.startsWith(prefix)) {
    const at = req.marker.slice(prefix.length).indexOf(delimiter);
    if (at >= 0) {
      const next = prefixEndOf(req.marker.slice(0, prefix.length + at + delimiter.length));
      if (next === undefined) return { entries, truncated: false };
      range = { ...range, after: undefined, startAt: next };
    }
  }
  for (;;) {
    const want = Math.min(PAGE, req.limit - entries.length + 1);
    const rows = await fetch({ ...range, limit: want });
    let jumped = false;
    for (const row of rows) {
      if (!row.name.startsWith(prefix)) continue;
      if (entries.length === req.limit) return { entries, truncated: true };
      const rest = row.name.slice(prefix.length);
      const at = delimiter ? rest.indexOf(delimiter) : -1;
      if (at < 0 || !delimiter) {
        entries.push({ kind: 'item', item: row });
        range = reverse ? { ...range, before: row.name } : { ...range, after: row.name, startAt: undefined };
        continue;
      }
      const common = prefix + rest.slice(0, at + delimiter.length);
      entries.push({ kind: 'prefix', prefix: common });
      if (reverse) {
        range = { ...range, before: common };
      } else {
        const next = prefixEndOf(common);
        if (next === undefined) return { entries, truncated: false };
        range = { ...range, after: undefined, startAt: next };
      }
      jumped = true;
      break;
    }
    if (jumped) {
      if (entries.length < req.limit) continue;
      const probe = await fetch({ ...range, limit: 1 });
      return { entries, truncated: probe.some((r) => r.name.startsWith(prefix)) };
    }
    if (rows.length < want) return { entries, truncated: false };
  }
}
