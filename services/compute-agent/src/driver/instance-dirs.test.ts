import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backingFilesInUse, instanceDirIds, qcow2BackingFile } from './instance-dirs';

/** The first bytes of a qcow2 image (version 3) naming `backing` as its backing file. */
function qcow2Header(backing: string | null): Buffer {
  const header = Buffer.alloc(512);
  header.writeUInt32BE(0x514649fb, 0);
  header.writeUInt32BE(3, 4);
  if (backing !== null) {
    const name = Buffer.from(backing, 'utf8');
    header.writeBigUInt64BE(200n, 8);
    header.writeUInt32BE(name.length, 16);
    name.copy(header, 200);
  }
  return header;
}

describe('instance directories', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'strato-dirs-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('reads the backing file from a qcow2 header', async () => {
    await writeFile(join(dir, 'disk'), qcow2Header('/srv/instances/_base/abc'));
    expect(await qcow2BackingFile(join(dir, 'disk'))).toBe('/srv/instances/_base/abc');
  });

  it('answers null for a qcow2 without backing file, a raw file or no file', async () => {
    await writeFile(join(dir, 'plain'), qcow2Header(null));
    await writeFile(join(dir, 'raw'), Buffer.alloc(512, 1));
    expect(await qcow2BackingFile(join(dir, 'plain'))).toBeNull();
    expect(await qcow2BackingFile(join(dir, 'raw'))).toBeNull();
    expect(await qcow2BackingFile(join(dir, 'missing'))).toBeNull();
  });

  it('lists the backing files of the guests on the host, and only instance directories', async () => {
    const one = '0b6c4a7e-1d2f-4c3b-9a8e-5f6d7c8b9a01';
    const two = '1b6c4a7e-1d2f-4c3b-9a8e-5f6d7c8b9a02';
    for (const [id, backing] of [
      [one, '/c/_base/x'],
      [two, '/c/_base/y'],
      ['_base', '/c/_base/z'],
    ] as const) {
      await mkdir(join(dir, id));
      await writeFile(join(dir, id, 'disk'), qcow2Header(backing));
    }
    expect((await instanceDirIds(dir)).sort()).toEqual([one, two]);
    expect(await backingFilesInUse(dir)).toEqual(new Set(['/c/_base/x', '/c/_base/y']));
    expect(await backingFilesInUse(join(dir, 'nonexistent'))).toEqual(new Set());
  });
});
