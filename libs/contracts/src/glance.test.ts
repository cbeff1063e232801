import { imageFromGlance } from './glance';

describe('imageFromGlance', () => {
  it("reads Glance's fields, prefers os_hash_value, and keeps everything else as string properties", () => {
    const image = imageFromGlance({
      id: 'i1',
      name: 'guest',
      status: 'active',
      visibility: 'private',
      owner: 'p1',
      disk_format: 'qcow2',
      container_format: 'bare',
      size: 3145728,
      checksum: 'd41d8cd98f00b204e9800998ecf8427e',
      os_hash_value: 'ab'.repeat(64),
      min_ram: 64,
      min_disk: 1.7,
      tags: ['x'],
      kernel_id: 'k1',
      hw_numa_nodes: 2,
      empty: null,
    });
    expect(image).toEqual({
      id: 'i1',
      name: 'guest',
      status: 'active',
      disk_format: 'qcow2',
      container_format: 'bare',
      size: 3145728,
      checksum: 'ab'.repeat(64),
      min_ram_mb: 64,
      min_disk_gb: 1,
      properties: { kernel_id: 'k1', hw_numa_nodes: '2' },
    });
  });

  it('falls back to the MD5 checksum and an unknown status', () => {
    const image = imageFromGlance({ id: 'i2', checksum: 'd41d8cd98f00b204e9800998ecf8427e' });
    expect(image).toMatchObject({
      checksum: 'd41d8cd98f00b204e9800998ecf8427e',
      status: 'unknown',
      size: null,
    });
  });
});
