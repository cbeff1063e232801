import { parseListQuery, parseSort, splitList } from './image-query';

const limits = { defaultLimit: 25, maxLimit: 1000 };
function kindOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { kind?: string }).kind;
  }
  return undefined;
}

describe('image list query', () => {
  it('defaults to 25 newest first, id breaking ties, only unhidden accepted images', () => {
    const c = parseListQuery({}, limits);
    expect(c.limit).toBe(25);
    expect(c.marker).toBeNull();
    expect(c.sort).toEqual([
      { key: 'created_at', dir: 'desc' },
      { key: 'id', dir: 'desc' },
    ]);
    expect(c.filters).toMatchObject({
      visibility: null,
      memberStatus: 'accepted',
      osHidden: false,
      tags: [],
    });
  });

  it('caps the limit and rejects bad ones', () => {
    expect(parseListQuery({ limit: '5000' }, limits).limit).toBe(1000);
    expect(parseListQuery({ limit: '0' }, limits).limit).toBe(0);
    expect(kindOf(() => parseListQuery({ limit: 'x' }, limits))).toBe('Invalid');
    expect(kindOf(() => parseListQuery({ limit: '-1' }, limits))).toBe('Invalid');
  });

  it('reads both sort syntaxes', () => {
    expect(parseSort({ sort: 'name:asc,size' })).toEqual([
      { key: 'name', dir: 'asc' },
      { key: 'size', dir: 'desc' },
      { key: 'id', dir: 'desc' },
    ]);
    expect(parseSort({ sort_key: ['name', 'id'], sort_dir: ['asc', 'desc'] })).toEqual([
      { key: 'name', dir: 'asc' },
      { key: 'id', dir: 'desc' },
    ]);
    expect(parseSort({ sort_key: ['name', 'size'], sort_dir: 'asc' })).toEqual([
      { key: 'name', dir: 'asc' },
      { key: 'size', dir: 'asc' },
      { key: 'id', dir: 'asc' },
    ]);
  });

  it('rejects unknown sort keys, directions and mixed syntaxes', () => {
    expect(kindOf(() => parseSort({ sort: 'password:asc' }))).toBe('Invalid');
    expect(kindOf(() => parseSort({ sort: 'name:up' }))).toBe('Invalid');
    expect(kindOf(() => parseSort({ sort: 'name', sort_key: 'size' }))).toBe('Invalid');
    expect(kindOf(() => parseSort({ sort_key: ['name', 'size', 'id'], sort_dir: ['asc', 'desc'] }))).toBe(
      'Invalid',
    );
    expect(kindOf(() => parseSort({ sort: 'name,name' }))).toBe('Invalid');
  });

  it('reads filters: in-lists, repeatable tags, member status, visibility, properties', () => {
    const c = parseListQuery(
      {
        name: 'in:a,"b,c"',
        status: 'active',
        tag: ['x', 'y'],
        member_status: 'all',
        visibility: 'community',
        owner: 'p2',
        os_distro: 'debian',
        size_min: '10',
        created_at: 'gte:2026-01-01T00:00:00Z',
      },
      limits,
    );
    expect(c.filters.in).toEqual({ name: ['a', 'b,c'], status: ['active'] });
    expect(c.filters).toMatchObject({
      tags: ['x', 'y'],
      memberStatus: 'all',
      visibility: 'community',
      owner: 'p2',
      sizeMin: 10,
      properties: { os_distro: 'debian' },
    });
    expect(c.filters.times).toEqual([
      { field: 'created_at', op: 'gte', at: new Date('2026-01-01T00:00:00Z') },
    ]);
  });

  it('rejects bad filter values', () => {
    expect(kindOf(() => parseListQuery({ visibility: 'everyone' }, limits))).toBe('Invalid');
    expect(kindOf(() => parseListQuery({ member_status: 'maybe' }, limits))).toBe('Invalid');
    expect(kindOf(() => parseListQuery({ size_min: 'big' }, limits))).toBe('Invalid');
    expect(kindOf(() => parseListQuery({ created_at: 'after:2020' }, limits))).toBe('Invalid');
    expect(kindOf(() => parseListQuery({ os_hidden: 'perhaps' }, limits))).toBe('Invalid');
  });

  it('splits quoted lists', () => {
    expect(splitList('a,"b,c",d')).toEqual(['a', 'b,c', 'd']);
    expect(kindOf(() => splitList('"a'))).toBe('Invalid');
  });
});
