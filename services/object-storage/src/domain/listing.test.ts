import { listWithDelimiter, type ListEntry } from './listing';
import type { ListRange } from './records';
import { prefixEndOf } from './prefix';

const NAMES = ['a.txt', 'photos/2024/1.jpg', 'photos/2024/2.jpg', 'photos/cat.jpg', 'videos/x.mp4', 'z', 'é'];

/** A fake store: sorted names filtered by a range, as the SQL does. */
function fetcher(names: string[]) {
  const sorted = [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const calls: ListRange[] = [];
  const fetch = async (r: ListRange) => {
    calls.push(r);
    const end = r.prefix ? prefixEndOf(r.prefix) : undefined;
    const inRange = (n: string) =>
      (!r.prefix || Buffer.compare(Buffer.from(n), Buffer.from(r.prefix)) >= 0) &&
      (end === undefined || Buffer.compare(Buffer.from(n), Buffer.from(end)) < 0) &&
      (r.after === undefined || Buffer.compare(Buffer.from(n), Buffer.from(r.after)) > 0) &&
      (r.startAt === undefined || Buffer.compare(Buffer.from(n), Buffer.from(r.startAt)) >= 0) &&
      (r.before === undefined || Buffer.compare(Buffer.from(n), Buffer.from(r.before)) < 0);
    const rows = sorted.filter(inRange).map((name) => ({ name }));
    return (r.reverse ? rows.reverse() : rows).slice(0, r.limit);
  };
  return { fetch, calls };
}

const names = (entries: ListEntry<{ name: string }>[]) =>
  entries.map((e) => (e.kind === 'prefix' ? `${e.prefix}(dir)` : e.item.name));

describe('listWithDelimiter', () => {
  it('folds names under the delimiter into common prefixes', async () => {
    const { fetch } = fetcher(NAMES);
    const out = await listWithDelimiter(fetch, { delimiter: '/', limit: 100 });
    expect(names(out.entries)).toEqual(['a.txt', 'photos/(dir)', 'videos/(dir)', 'z', 'é']);
    expect(out.truncated).toBe(false);
  });

  it('lists within a prefix and folds the next level', async () => {
    const { fetch } = fetcher(NAMES);
    const out = await listWithDelimiter(fetch, { prefix: 'photos/', delimiter: '/', limit: 100 });
    expect(names(out.entries)).toEqual(['photos/2024/(dir)', 'photos/cat.jpg']);
  });

  it('pages with a marker and reports truncation', async () => {
    const { fetch } = fetcher(NAMES);
    const first = await listWithDelimiter(fetch, { limit: 3 });
    expect(names(first.entries)).toEqual(['a.txt', 'photos/2024/1.jpg', 'photos/2024/2.jpg']);
    expect(first.truncated).toBe(true);
    const second = await listWithDelimiter(fetch, { limit: 3, marker: 'photos/2024/2.jpg' });
    expect(names(second.entries)).toEqual(['photos/cat.jpg', 'videos/x.mp4', 'z']);
    expect(second.truncated).toBe(true);
  });

  it('continues after a common prefix given back as the marker', async () => {
    const { fetch } = fetcher(NAMES);
    const out = await listWithDelimiter(fetch, { delimiter: '/', marker: 'photos/', limit: 2 });
    expect(names(out.entries)).toEqual(['videos/(dir)', 'z']);
    expect(out.truncated).toBe(true);
  });

  it('honours end_marker and reverse order', async () => {
    const { fetch } = fetcher(NAMES);
    expect(
      names((await listWithDelimiter(fetch, { endMarker: 'photos/cat.jpg', limit: 10 })).entries),
    ).toEqual(['a.txt', 'photos/2024/1.jpg', 'photos/2024/2.jpg']);
    const rev = await listWithDelimiter(fetch, { reverse: true, delimiter: '/', limit: 10 });
    expect(names(rev.entries)).toEqual(['é', 'z', 'videos/(dir)', 'photos/(dir)', 'a.txt']);
  });

  it('skips a folded prefix with one query instead of reading every name in it', async () => {
    const many = Array.from({ length: 5000 }, (_, i) => `logs/${String(i).padStart(5, '0')}`);
    const { fetch, calls } = fetcher([...many, 'readme']);
    const out = await listWithDelimiter(fetch, { delimiter: '/', limit: 100 });
    expect(names(out.entries)).toEqual(['logs/(dir)', 'readme']);
    expect(calls.length).toBeLessThanOrEqual(3);
  });
});
