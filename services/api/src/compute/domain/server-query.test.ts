import { RegexWorker } from './regex-worker';
import { idFromRef, matchesStatus, MAX_LIMIT, NAME_FLAGS, parseServerQuery } from './server-query';

describe('server list query', () => {
  it('defaults to the max limit, no filters, own project', () => {
    const q = parseServerQuery({}, false);
    expect(q).toMatchObject({
      limit: MAX_LIMIT,
      marker: null,
      allTenants: false,
      name: null,
      vmStates: null,
    });
  });

  it('caps the limit and refuses a non-integer one', () => {
    expect(parseServerQuery({ limit: '5000' }, false).limit).toBe(MAX_LIMIT);
    expect(() => parseServerQuery({ limit: 'abc' }, false)).toThrow(
      expect.objectContaining({ kind: 'Invalid' }),
    );
    expect(() => parseServerQuery({ limit: '-1' }, false)).toThrow('limit param must be an integer');
  });

  const names = new RegexWorker(2000);
  afterAll(() => names.close());
  /** Which of the names the query's name filter keeps. */
  const kept = async (pattern: string, list: string[]) => {
    const q = parseServerQuery({ name: pattern }, false);
    const matches = await names.test(q.name!, NAME_FLAGS, list);
    return list.filter((_, i) => matches[i]);
  };

  it('treats name as an unanchored case-insensitive regex', async () => {
    expect(await kept('^vm-[0-9]$', ['VM-1', 'vm-10'])).toEqual(['VM-1']);
    expect(await kept('vm', ['my-vm10', 'web'])).toEqual(['my-vm10']);
    expect(await kept('^\\x41.{0,64}$', ['abc', 'xabc'])).toEqual(['abc']);
  });

  it('does not fail on a name that is not a valid regex: it is matched as literal text', async () => {
    expect(await kept('a(b', ['xA(b', 'ab'])).toEqual(['xA(b']);
  });

  it('filters by the derived status', () => {
    const q = parseServerQuery({ status: 'reboot' }, false);
    expect(q.vmStates).toEqual(['active']);
    expect(matchesStatus(q, { vmState: 'active', taskState: 'rebooting' })).toBe(true);
    expect(matchesStatus(q, { vmState: 'active', taskState: null })).toBe(false);
  });

  it('honours all_tenants and project_id for admins only', () => {
    expect(parseServerQuery({ all_tenants: '1', project_id: 'p2' }, true)).toMatchObject({
      allTenants: true,
      projectId: 'p2',
    });
    expect(parseServerQuery({ all_tenants: '1', project_id: 'p2' }, false)).toMatchObject({
      allTenants: false,
      projectId: null,
    });
  });

  it('parses changes-since and refuses garbage', () => {
    expect(parseServerQuery({ 'changes-since': '2026-01-01T00:00:00Z' }, false).changesSince).toBe(
      '2026-01-01T00:00:00.000Z',
    );
    expect(() => parseServerQuery({ 'changes-since': 'yesterday' }, false)).toThrow(
      expect.objectContaining({ kind: 'Invalid' }),
    );
  });

  it('keeps other parameters for the next link', () => {
    expect(parseServerQuery({ name: 'x', limit: '2', marker: 'm' }, false).passThrough).toEqual({
      name: 'x',
    });
  });

  it('takes ids out of hrefs', () => {
    expect(idFromRef('http://h/images/abc')).toBe('abc');
    expect(idFromRef('abc')).toBe('abc');
  });
});
