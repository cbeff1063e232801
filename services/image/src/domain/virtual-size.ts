/**
 * The size of the disk an image unpacks to, read from the first bytes of its data (as Glance
 * fills virtual_size): raw and iso are their own size; qcow2 and vmdk tell it in
 * their header. Unknown: null.
 */
import { Transform, type TransformCallback } from 'node:stream';

/** Bytes of the header we need to look at. */
export const HEADER_BYTES = 512;

const QCOW2_MAGIC = 0x514649fb; // "QFI\xfb"
const VMDK_MAGIC = 0x564d444b; // "KDMV" read little-endian

export function virtualSizeOf(diskFormat: string | null, header: Buffer, size: number): number | null {
  switch (diskFormat) {
    case 'raw':
    case 'iso':
      return size;
    case 'qcow2':
      if (header.length >= 32 && header.readUInt32BE(0) === QCOW2_MAGIC) {
        const v = header.readBigUInt64BE(24);
        return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : null;
      }
      return null;
    case 'vmdk':
      if (header.length >= 20 && header.readUInt32LE(0) === VMDK_MAGIC) {
        const sectors = header.readBigUInt64LE(12);
        const bytes = sectors * 512n;
        return bytes <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(bytes) : null;
      }
      return null;
    case null:
    default:
      return null;
  }
}

/** A pass-through that keeps a copy of the first HEADER_BYTES bytes. */
export class HeaderCapture extends Transform {
  private readonly parts: Buffer[] = [];
  private captured = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    if (this.captured < HEADER_BYTES) {
      const piece = chunk.subarray(0, HEADER_BYTES - this.captured);
      this.parts.push(Buffer.from(piece));
      this.captured += piece.length;
    }
    done(null, chunk);
  }

  header(): Buffer {
    return Buffer.concat(this.parts);
  }
}
