import { RegexWorker } from './regex-worker';
import { idFromRef, matchesStatus, MAX_LIMIT, NAME_FLAGS, parseServerQuery } from './server-query';

const member = { admin: false, detail: true, strictStatus: true };
const admin = { ...member, admin: true };

describe('server list query', () => {
  it('defaults to the max limit, no filters, own project', () => {
    const q = parseServerQuery({}, member);
    expect(q).toMatchObject({
      limit: MAX_LIMIT,
      marker: null,
      allTenants: false,
      name: null,
      vmStates: null,
    });
  });

  it('caps the limit and refuses a non-integer one', () => {
    expect(parseServerQuery({ limit: '5000' }, member).limit).toBe(MAX_LIMIT);
    expect(() => parseServerQuery({ limit: 'abc' }, member)).toThrow(
      expect.objectContaining({ kind: 'Invalid' }),
    );
    expect(() => parseServerQuery({ limit: '-1' }, member)).toThrow('limit param must be an integer');
  });

  const names = new RegexWorker(2000);
  afterAll(() => names.close());
  /** Which of the names the query's name filter keeps. */
  const kept = async (pattern: string, list: string[]) => {
    const q = parseServerQuery({ name: pattern }, member);
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
    const q = parseServerQuery({ status: 'reboot' }, member);
    expect(q.vmStates).toEqual(['active']);
    expect(matchesStatus(q, { vmState: 'active', taskState: 'rebooting' })).toBe(true);
    expect(matchesStatus(q, { vmState: 'active', taskState: null })).toBe(false);
  });

  it('honours all_tenants and project_id for admins only', () => {
    expect(parseServerQuery({ all_tenants: '1', project_id: 'p2' }, admin)).toMatchObject({
      allTenants: true,
      projectId: 'p2',
    });
    expect(parseServerQuery({ project_id: 'p2' }, member)).toMatchObject({
      allTenants: false,
      projectId: null,
    });
    expect(() => parseServerQuery({ all_tenants: '1' }, member)).toThrow(
      "Policy doesn't allow os_compute_api:servers:detail:get_all_tenants to be performed.",
    );
    expect(() => parseServerQuery({ all_tenants: '' }, { ...member, detail: false })).toThrow(
      expect.objectContaining({ kind: 'Forbidden' }),
    );
    expect(parseServerQuery({ all_tenants: '0' }, member).allTenants).toBe(false);
  });

  it('refuses an unknown status from 2.38, and before it matches nothing', () => {
    expect(() => parseServerQuery({ status: 'bogus' }, member)).toThrow('Invalid status value');
    // A status Nova knows but Strato has no state for (no rebuild yet) lists nothing.
    expect(parseServerQuery({ status: 'rebuild' }, member).vmStates).toEqual([]);
    expect(parseServerQuery({ status: 'bogus' }, { ...member, strictStatus: false }).vmStates).toEqual([]);
  });

  it('parses changes-since and refuses garbage', () => {
    expect(parseServerQuery({ 'changes-since': '2026-01-01T00:00:00Z' }, member).changesSince).toBe(
      '2026-01-01T00:00:00.000Z',
    );
    expect(() => parseServerQuery({ 'changes-since': 'yesterday' }, member)).toThrow(
      expect.objectContaining({ kind: 'Invalid' }),
    );
  });

  it("reads ISO 8601 as Nova's parser does: extended and basic dates, offsets, fractions; no loose dates, no days that do not exist", () => {
    const since = (v: string) => parseServerQuery({ 'changes-since': v }, member).changesSince;
    expect(since('2026-01-01')).toBe('2026-01-01T00:00:00.000Z');
    expect(since('2026-01-01 10:20:30.5')).toBe('2026-01-01T10:20:30.500Z');
    expect(since('2026-01-01T10:20:30+02:00')).toBe('2026-01-01T08:20:30.000Z');
    expect(since('2026-01-01T10:20-0130')).toBe('2026-01-01T11:50:00.000Z');
    expect(since('2020-1-1')).toBe('2020-01-01T00:00:00.000Z');
    expect(since('20200102')).toBe('2020-01-02T00:00:00.000Z');
    expect(since('2026-01-01T10')).toBe('2026-01-01T10:00:00.000Z');
    expect(since('0099-01-01')).toBe('0099-01-01T00:00:00.000Z');
    for (const bad of [
      'March 7 2020',
      '2020-02-30',
      '2020-01-01T24:00:00',
      '202001',
      '2020-01-01T10:00:00 UTC',
    ]) {
      expect(() => since(bad)).toThrow(expect.objectContaining({ kind: 'Invalid' }));
    }
  });

  it('refuses changes-before earlier than changes-since', () => {
    expect(() =>
      parseServerQuery({ 'changes-since': '2026-01-02', 'changes-before': '2026-01-01' }, member),
    ).toThrow('The value of changes-since must be less than or equal to changes-before.');
  });

  it('keeps other parameters for the next link', () => {
    expect(parseServerQuery({ name: 'x', limit: '2', marker: 'm' }, member).passThrough).toEqual({
      name: 'x',
    });
  });

  it('takes ids out of hrefs', () => {
    expect(idFromRef('http://h/images/abc')).toBe('abc');
    expect(idFromRef('abc')).toBe('abc');
  });
});
