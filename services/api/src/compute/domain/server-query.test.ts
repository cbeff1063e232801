import { idFromRef, matchesInMemory, MAX_LIMIT, parseServerQuery } from './server-query';

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

  it('treats name as an unanchored case-insensitive regex', () => {
    const q = parseServerQuery({ name: '^vm-[0-9]$' }, false);
    expect(matchesInMemory(q, { name: 'VM-1', vmState: 'active', taskState: null })).toBe(true);
    expect(matchesInMemory(q, { name: 'vm-10', vmState: 'active', taskState: null })).toBe(false);
    const sub = parseServerQuery({ name: 'vm' }, false);
    expect(matchesInMemory(sub, { name: 'my-vm10', vmState: 'active', taskState: null })).toBe(true);
  });

  it('runs any name pattern in linear time: a catastrophic one answers at once', () => {
    // With a backtracking engine this pattern takes minutes on this name (and jest times out).
    const q = parseServerQuery({ name: '^(a+)+$' }, false);
    expect(matchesInMemory(q, { name: `${'a'.repeat(40)}!`, vmState: 'active', taskState: null })).toBe(
      false,
    );
    expect(matchesInMemory(q, { name: 'AAA', vmState: 'active', taskState: null })).toBe(true);
  });

  it('keeps the meaning of escapes while it ignores case', () => {
    const match = (pattern: string, name: string) =>
      matchesInMemory(parseServerQuery({ name: pattern }, false), {
        name,
        vmState: 'active',
        taskState: null,
      });
    expect(match('^\\S+$', 'Web-1')).toBe(true);
    expect(match('^\\S+$', 'web 1')).toBe(false);
    expect(match('^WEB\\d$', 'web7')).toBe(true);
    expect(match('^WEB\\D$', 'web7')).toBe(false);
    expect(match('^\\Qeb\\C', 'qebc')).toBe(true); // identity escapes: letters like any other
    // A back-reference is not for the linear engine: the pattern is matched as literal text.
    expect(match('(a)\\1', 'x(A)\\1y')).toBe(true);
    expect(match('(a)\\1', 'aa')).toBe(false);
  });

  it('does not fail on a name that is not a valid regex', () => {
    const q = parseServerQuery({ name: 'a(b' }, false);
    expect(matchesInMemory(q, { name: 'xa(b', vmState: 'active', taskState: null })).toBe(true);
  });

  it('filters by the derived status', () => {
    const q = parseServerQuery({ status: 'reboot' }, false);
    expect(q.vmStates).toEqual(['active']);
    expect(matchesInMemory(q, { name: 'a', vmState: 'active', taskState: 'rebooting' })).toBe(true);
    expect(matchesInMemory(q, { name: 'a', vmState: 'active', taskState: null })).toBe(false);
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
