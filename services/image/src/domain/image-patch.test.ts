import { newImage, type ImageAttributes } from './image';
import { applyPatch, decodePointer, parsePatch } from './image-patch';

const limits = { tagQuota: 128, propertyQuota: 128 };
function image(body: Record<string, unknown> = {}): ImageAttributes {
  return newImage({ name: 'base', ...body }, { owner: 'p1', now: new Date(0) }, limits);
}
function patch(target: ImageAttributes, ops: unknown): ImageAttributes {
  return applyPatch(target, parsePatch(ops));
}
function kindOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { kind?: string }).kind;
  }
  return undefined;
}

describe('JSON patch (openstack-images-v2.1-json-patch)', () => {
  it('adds, replaces and removes properties', () => {
    let img = patch(image(), [{ op: 'add', path: '/os_distro', value: 'debian' }]);
    expect(img.properties).toEqual({ os_distro: 'debian' });
    img = patch(img, [{ op: 'replace', path: '/os_distro', value: 'fedora' }]);
    expect(img.properties.os_distro).toBe('fedora');
    img = patch(img, [{ op: 'remove', path: '/os_distro' }]);
    expect(img.properties).toEqual({});
  });

  it('refuses a value nested too deep to print as a schema error, not an internal one', () => {
    let deep: unknown = [];
    for (let i = 0; i < 20000; i++) deep = [deep];
    expect(kindOf(() => image({ name: deep }))).toBe('Invalid');
    expect(kindOf(() => patch(image(), [{ op: 'replace', path: '/name', value: deep }]))).toBe('Invalid');
  });

  it('keeps the os_glance namespace reserved, on create and in a patch, as Glance does', () => {
    expect(kindOf(() => image({ os_glance_import_task: 'x' }))).toBe('Forbidden');
    expect(kindOf(() => patch(image(), [{ op: 'add', path: '/os_glance_foo', value: 'x' }]))).toBe(
      'Forbidden',
    );
    expect(kindOf(() => patch(image(), [{ op: 'remove', path: '/os_glance_foo' }]))).toBe('Forbidden');
  });

  it('lets add overwrite an existing property or base attribute', () => {
    const img = patch(image({ k: 'old' }), [
      { op: 'add', path: '/k', value: 'new' },
      { op: 'add', path: '/name', value: 'renamed' },
    ]);
    expect(img.properties.k).toBe('new');
    expect(img.name).toBe('renamed');
  });

  it('sets base attributes with their types checked', () => {
    const img = patch(image(), [
      { op: 'replace', path: '/min_ram', value: 512 },
      { op: 'replace', path: '/protected', value: true },
      { op: 'replace', path: '/tags', value: ['a', 'b'] },
      { op: 'replace', path: '/disk_format', value: 'qcow2' },
      { op: 'replace', path: '/visibility', value: 'community' },
    ]);
    expect(img).toMatchObject({
      min_ram: 512,
      protected: true,
      tags: ['a', 'b'],
      disk_format: 'qcow2',
      visibility: 'community',
    });
    expect(kindOf(() => patch(image(), [{ op: 'replace', path: '/min_ram', value: -1 }]))).toBe('Invalid');
    expect(kindOf(() => patch(image(), [{ op: 'replace', path: '/min_ram', value: '1' }]))).toBe('Invalid');
    expect(kindOf(() => patch(image(), [{ op: 'replace', path: '/disk_format', value: 'floppy' }]))).toBe(
      'Invalid',
    );
    expect(kindOf(() => patch(image(), [{ op: 'replace', path: '/visibility', value: 'everyone' }]))).toBe(
      'Invalid',
    );
    expect(kindOf(() => patch(image(), [{ op: 'replace', path: '/tags', value: ['a', 'a'] }]))).toBe(
      'Invalid',
    );
  });

  it('refuses read-only and reserved attributes with 403', () => {
    for (const path of ['/id', '/status', '/checksum', '/size', '/os_hash_value', '/created_at', '/self']) {
      expect(kindOf(() => parsePatch([{ op: 'replace', path, value: 'x' }]))).toBe('Forbidden');
    }
    expect(kindOf(() => parsePatch([{ op: 'add', path: '/deleted', value: 'x' }]))).toBe('Forbidden');
  });

  it('refuses to remove a base attribute (403) or a missing property (409)', () => {
    expect(kindOf(() => patch(image(), [{ op: 'remove', path: '/name' }]))).toBe('Forbidden');
    expect(kindOf(() => patch(image(), [{ op: 'remove', path: '/nope' }]))).toBe('Conflict');
    expect(kindOf(() => patch(image(), [{ op: 'replace', path: '/nope', value: 'x' }]))).toBe('Conflict');
  });

  it('rejects malformed documents with 400', () => {
    for (const body of [
      {},
      'x',
      [1],
      [{ op: 'move', path: '/a', value: 'b' }],
      [{ op: 'add', value: 'b' }],
      [{ op: 'add', path: '/a' }],
      [{ op: 'add', path: 'a', value: 'b' }],
      [{ op: 'add', path: '/a/b', value: 'b' }],
      [{ op: 'add', path: '/a~2', value: 'b' }],
      [{ op: 'add', path: '/', value: 'b' }],
    ]) {
      expect(kindOf(() => parsePatch(body))).toBe('Invalid');
    }
  });

  it('keeps property values strings', () => {
    expect(kindOf(() => patch(image(), [{ op: 'add', path: '/k', value: 1 }]))).toBe('Invalid');
    expect(kindOf(() => patch(image(), [{ op: 'add', path: '/k', value: null }]))).toBe('Invalid');
  });

  it('decodes JSON pointer escapes', () => {
    expect(decodePointer('/a~1b~0c')).toBe('a/b~c');
    const img = patch(image(), [{ op: 'add', path: '/__proto__', value: 'x' }]);
    expect(Object.keys(img.properties)).toEqual(['__proto__']);
  });

  it('applies every operation or none: the input is never changed', () => {
    const before = image({ k: 'v' });
    expect(() =>
      patch(before, [
        { op: 'replace', path: '/k', value: 'changed' },
        { op: 'remove', path: '/missing' },
      ]),
    ).toThrow();
    expect(before.properties.k).toBe('v');
  });
});
