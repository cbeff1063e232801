/**
 * What is on the host's disk for its guests: the instance directories and the images their
 * root disks are backed by. The backing file is read from the qcow2 header itself (no process
 * to start), so the image cache can tell which of its entries are in use at any moment,
 * including right after the agent restarted.
 */
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const QCOW2_MAGIC = 0x514649fb; // 'QFI\xfb'
const MAX_BACKING_NAME = 1023; // qcow2's own limit

/** The backing file named in a qcow2 image's header; null for none, for non-qcow2 or unreadable files. */
export async function qcow2BackingFile(path: string): Promise<string | null> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch {
    return null;
  }
  try {
    const header = Buffer.alloc(20);
    const { bytesRead } = await handle.read(header, 0, 20, 0);
    if (bytesRead < 20 || header.readUInt32BE(0) !== QCOW2_MAGIC) return null;
    const offset = header.readBigUInt64BE(8);
    const length = header.readUInt32BE(16);
    if (offset === 0n || length === 0 || length > MAX_BACKING_NAME) return null;
    const name = Buffer.alloc(length);
    const read = await handle.read(name, 0, length, Number(offset));
    return read.bytesRead === length ? name.toString('utf8') : null;
  } finally {
    await handle.close();
  }
}

/** Instance ids with a directory under instancesDir. */
export async function instanceDirIds(instancesDir: string): Promise<string[]> {
  const names = await readdir(instancesDir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw err;
  });
  return names.filter((n) => UUID_RE.test(n));
}

/** Absolute paths of the files the guests' root disks on this host are backed by. */
export async function backingFilesInUse(instancesDir: string): Promise<Set<string>> {
  const used = new Set<string>();
  for (const id of await instanceDirIds(instancesDir)) {
    const backing = await qcow2BackingFile(join(instancesDir, id, 'disk'));
    if (backing !== null) used.add(backing);
  }
  return used;
}
