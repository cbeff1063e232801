/**
 * Where object bytes live. The contract every backend keeps:
 * - write() streams its source into a new data item named by a fresh random id. When it
 *   resolves, the bytes are complete, durable (when the backend syncs) and readable under
 *   that id. When it rejects (the source threw, verify rejected, the disk failed), nothing
 *   of it is left.
 *   A data item is invisible to users until the metadata naming it is committed.
 * - Ids are opaque; user-given names never reach the backend.
 * - remove() succeeds when the item is already gone.
 * - init() removes what interrupted writes left behind.
 */
import type { Readable, Writable } from 'node:stream';

export interface DataReader {
  readonly size: number;
  /** Streams bytes start..end (inclusive); the reader closes itself when the stream ends. */
  stream(start: number, end: number): Readable;
  /**
   * Writes bytes start..end (inclusive) to `out`, honouring backpressure, and closes the
   * reader; a backend may offer it when it can send more cheaply than through stream().
   */
  sendTo?(out: Writable, start: number, end: number): Promise<void>;
  /** Reads the whole item into memory (only for small items) and closes the reader. */
  readAll(): Promise<Buffer>;
  close(): Promise<void>;
}

export interface WriteOptions {
  /**
   * Called once the source has ended; the backend may make the bytes durable meanwhile, but
   * the item becomes readable under its id only after this resolves. When it rejects, the
   * write fails as when the source throws. (Digests computed beside the stream are checked
   * here, while the disk flushes.)
   */
  verify?: () => Promise<unknown>;
}

export interface DataBackend {
  readonly name: string;
  init(): Promise<{ removedTemporary: number }>;
  write(source: AsyncIterable<Uint8Array>, options?: WriteOptions): Promise<{ dataId: string; size: number }>;
  /** Opens an item for reading; rejects with NotFound when it does not exist. */
  open(dataId: string): Promise<DataReader>;
  /**
   * Reads a whole small item whose size the caller knows (from its metadata); rejects with
   * NotFound when it does not exist, and fails when it is not that size.
   */
  readSmall(dataId: string, size: number): Promise<Buffer>;
  remove(dataIds: readonly string[]): Promise<void>;
  /** Every stored item id with its modification time (for sweeping orphans). */
  list(): AsyncIterable<{ dataId: string; modifiedMs: number }>;
}
