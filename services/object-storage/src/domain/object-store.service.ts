/**
 * The object store: the one place that knows how bytes (DataBackend) and metadata
 * (MetadataStore) move together. A write streams to the backend while hashing, is checked,
 * and only then is its metadata committed; data an overwrite or delete released is removed
 * after the commit. Swift and S3 routers are thin adapters over this class.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable, type Writable } from 'node:stream';
import type { Logger } from '@strato/log';
import type { DataBackend, DataReader } from './data-backend';
import { storageError } from './errors';
import { HashingSource, type UploadExpectations } from './hashing';
import { listWithDelimiter, type Listing, type ListingRequest } from './listing';
import type { MetadataStore, MetaPatch } from './metadata-store';
import type {
  AccountRecord,
  ContainerRecord,
  MpuPart,
  ObjectRecord,
  PartRecord,
  SloSegment,
  UploadRecord,
  UserMeta,
} from './records';
import type { ByteRange } from './conditions';

export interface StoreLimits {
  maxObjectSize: number;
  minPartSize: number;
  maxSegments: number;
}

export interface ObjectRef {
  account: string;
  container: string;
  name: string;
}

export interface PutOptions {
  length?: number | undefined;
  md5Hex?: string | undefined;
  sha256Hex?: string | undefined;
  contentType: string;
  meta: UserMeta;
}

/** The bytes of (a range of) an object: small ones whole in memory, others streamed. */
export type ObjectBody =
  | { kind: 'buffer'; data: Buffer }
  | {
      kind: 'stream';
      stream: Readable;
      /** Sends the bytes to `out` without a stream in between, when the backend can. */
      sendTo?: (out: Writable) => Promise<void>;
    };

/** What readers see of an object: the record plus its effective size and etag. */
export interface ObjectView {
  record: ObjectRecord;
  size: number;
  /** Hex etag (composite for large objects). */
  etag: string;
  /** Pieces to read, for composite objects resolved lazily. */
  pieces?: Piece[];
}

interface Piece {
  size: number;
  dataId?: string;
  /** A Swift segment: resolved to its data when read, and checked against its etag. */
  segment?: { container: string; name: string; etag: string };
}

const SMALL_OBJECT_BYTES = 256 * 1024;
const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

export class ObjectStoreService {
  private readonly releases = new Set<Promise<void>>();

  constructor(
    private readonly deps: {
      meta: MetadataStore;
      data: DataBackend;
      log: Logger;
      limits: StoreLimits;
      now?: () => number;
    },
  ) {}

  private now(): number {
    return this.deps.now ? this.deps.now() : Date.now();
  }

  /** Prepares the backend (removing interrupted writes) and returns. */
  async init(): Promise<void> {
    const { removedTemporary } = await this.deps.data.init();
    if (removedTemporary > 0) {
      this.deps.log.warn({ removedTemporary }, 'removed temporary files of interrupted writes');
    }
  }

  /**
   * Removes data items no metadata refers to that are older than `olderThanMs` (left by a
   * crash between a data rename and its metadata commit, or before a release finished).
   */
  async sweepOrphans(olderThanMs: number): Promise<number> {
    let removed = 0;
    let batch: string[] = [];
    const flush = async () => {
      const used = await this.deps.meta.referencedDataIds(batch);
      const orphans = batch.filter((id) => !used.has(id));
      await this.deps.data.remove(orphans);
      removed += orphans.length;
      batch = [];
    };
    for await (const item of this.deps.data.list()) {
      if (item.modifiedMs >= olderThanMs) continue;
      batch.push(item.dataId);
      if (batch.length >= 500) await flush();
    }
    if (batch.length > 0) await flush();
    if (removed > 0) this.deps.log.warn({ removed }, 'removed orphaned object data');
    return removed;
  }

  /** Waits for pending data removals. */
  async drain(): Promise<void> {
    await Promise.all([...this.releases]);
  }

  private release(dataIds: readonly string[]): void {
    if (dataIds.length === 0) return;
    const p = this.deps.data.remove(dataIds).catch((err: unknown) => {
      this.deps.log.error({ err, count: dataIds.length }, 'could not remove released object data');
    });
    this.releases.add(p);
    void p.finally(() => this.releases.delete(p));
  }

  // accounts

  async account(account: string): Promise<AccountRecord> {
    return (
      (await this.deps.meta.getAccount(account)) ?? {
        account,
        containerCount: 0,
        objectCount: 0,
        bytesUsed: 0,
        createdAt: this.now(),
        meta: {},
      }
    );
  }

  setAccountMeta(account: string, patch: MetaPatch): Promise<void> {
    return this.deps.meta.updateAccountMeta(account, patch);
  }

  async listContainers(account: string, req: ListingRequest): Promise<Listing<ContainerRecord>> {
    return listWithDelimiter((range) => this.deps.meta.listContainers(account, range), req);
  }

  // containers

  createContainer(account: string, name: string, patch: MetaPatch = {}): Promise<boolean> {
    return this.deps.meta.createContainer(account, name, patch, this.now());
  }

  async container(account: string, name: string): Promise<ContainerRecord> {
    const c = await this.deps.meta.getContainer(account, name);
    if (!c) throw storageError('NoSuchBucket', 'The specified container does not exist.');
    return c;
  }

  setContainerMeta(account: string, name: string, patch: MetaPatch): Promise<void> {
    return this.deps.meta.updateContainerMeta(account, name, patch);
  }

  async deleteContainer(account: string, name: string): Promise<void> {
    const outcome = await this.deps.meta.deleteContainer(account, name);
    if (outcome === 'missing') throw storageError('NoSuchBucket', 'The specified container does not exist.');
    if (outcome === 'not-empty') {
      throw storageError('BucketNotEmpty', 'The container you tried to delete is not empty.');
    }
  }

  async listObjects(account: string, container: string, req: ListingRequest): Promise<Listing<ObjectRecord>> {
    await this.container(account, container);
    return listWithDelimiter((range) => this.deps.meta.listObjects(account, container, range), req);
  }

  // objects

  /** Streams a new object in; resolves once it is durable and visible. */
  async putObject(ref: ObjectRef, body: AsyncIterable<Uint8Array>, opts: PutOptions): Promise<ObjectRecord> {
    await this.container(ref.account, ref.container);
    const { dataId, digest } = await this.writeData(body, {
      length: opts.length,
      maxSize: this.deps.limits.maxObjectSize,
      md5Hex: opts.md5Hex,
      sha256Hex: opts.sha256Hex,
    });
    const record: ObjectRecord = {
      ...ref,
      size: digest.size,
      etag: digest.md5Hex,
      contentType: opts.contentType || DEFAULT_CONTENT_TYPE,
      lastModified: this.now(),
      meta: opts.meta,
      kind: 'plain',
      dataId,
      manifest: null,
      uploadId: null,
    };
    await this.commitObject(record, [dataId]);
    return record;
  }

  private async writeData(
    body: AsyncIterable<Uint8Array>,
    expect: UploadExpectations,
  ): Promise<{ dataId: string; digest: { size: number; md5Hex: string } }> {
    const hashing = new HashingSource(body, expect);
    const { dataId } = await this.deps.data.write(hashing, { verify: () => hashing.verify() });
    return { dataId, digest: hashing.digest };
  }

  /** Commits an object's metadata; on failure the new data is removed again. */
  private async commitObject(record: ObjectRecord, newData: string[]): Promise<void> {
    let released: string[];
    try {
      ({ released } = await this.deps.meta.putObject(record));
    } catch (err) {
      await this.deps.data.remove(newData);
      throw err;
    }
    this.release(released);
  }

  async head(ref: ObjectRef): Promise<ObjectView> {
    const record = await this.deps.meta.getObject(ref.account, ref.container, ref.name);
    if (!record) throw storageError('NoSuchKey', 'The specified key does not exist.');
    return this.view(record);
  }

  private async view(record: ObjectRecord): Promise<ObjectView> {
    switch (record.kind) {
      case 'plain':
        return { record, size: record.size, etag: record.etag };
      case 'mpu': {
        const parts = JSON.parse(record.manifest ?? '[]') as MpuPart[];
        return { record, size: record.size, etag: record.etag, pieces: parts };
      }
      case 'slo': {
        const segments = JSON.parse(record.manifest ?? '[]') as SloSegment[];
        const pieces = segments.map((s) => {
          const { container, name } = splitSegmentPath(s.name);
          return { size: s.bytes, segment: { container, name, etag: s.hash } };
        });
        return { record, size: record.size, etag: record.etag, pieces };
      }
      case 'dlo': {
        const { container, prefix } = splitDloManifest(record.manifest ?? '');
        const segments = await this.allObjects(record.account, container, prefix);
        const etags = createHash('md5');
        let size = 0;
        const pieces: Piece[] = [];
        for (const s of segments) {
          etags.update(s.etag);
          size += s.size;
          pieces.push({ size: s.size, segment: { container, name: s.name, etag: s.etag } });
        }
        return { record, size, etag: etags.digest('hex'), pieces };
      }
    }
  }

  private async allObjects(account: string, container: string, prefix: string): Promise<ObjectRecord[]> {
    const out: ObjectRecord[] = [];
    let after: string | undefined;
    for (;;) {
      const rows = await this.deps.meta.listObjects(account, container, {
        prefix: prefix || undefined,
        after,
        limit: 1000,
      });
      out.push(...rows.filter((r) => r.kind === 'plain'));
      if (out.length > this.deps.limits.maxSegments) {
        throw storageError('InvalidManifest', 'Too many segments in the dynamic large object');
      }
      if (rows.length < 1000) return out;
      after = rows[rows.length - 1]!.name;
    }
  }

  /** The bytes of an object (or of `range`, inclusive). */
  async read(view: ObjectView, range?: ByteRange): Promise<ObjectBody> {
    const start = range?.start ?? 0;
    const end = range?.end ?? view.size - 1;
    if (end < start) return { kind: 'buffer', data: Buffer.alloc(0) };
    if (!view.pieces) {
      if (view.size <= SMALL_OBJECT_BYTES && start === 0 && end === view.size - 1) {
        return { kind: 'buffer', data: await this.deps.data.readSmall(view.record.dataId!, view.size) };
      }
      return streamBody(await this.deps.data.open(view.record.dataId!), start, end);
    }
    return { kind: 'stream', stream: Readable.from(this.concat(view, start, end), { objectMode: false }) };
  }

  private async *concat(view: ObjectView, start: number, end: number): AsyncGenerator<Buffer> {
    let offset = 0;
    for (const piece of view.pieces ?? []) {
      const pieceStart = offset;
      const pieceEnd = offset + piece.size - 1;
      offset += piece.size;
      if (piece.size === 0 || pieceEnd < start) continue;
      if (pieceStart > end) break;
      const dataId = piece.dataId ?? (await this.segmentData(view.record.account, piece));
      const reader = await this.deps.data.open(dataId);
      const from = Math.max(start, pieceStart) - pieceStart;
      const to = Math.min(end, pieceEnd) - pieceStart;
      if (to >= reader.size) {
        await reader.close();
        throw storageError('InvalidManifest', 'A segment is shorter than its manifest says');
      }
      for await (const chunk of reader.stream(from, to)) yield chunk as Buffer;
    }
  }

  private async segmentData(account: string, piece: Piece): Promise<string> {
    const seg = piece.segment!;
    const rec = await this.deps.meta.getObject(account, seg.container, seg.name);
    if (!rec || rec.kind !== 'plain' || rec.etag !== seg.etag || rec.size !== piece.size) {
      throw storageError('InvalidManifest', `Segment /${seg.container}/${seg.name} changed or is missing`);
    }
    return rec.dataId!;
  }

  async deleteObject(ref: ObjectRef): Promise<ObjectRecord> {
    const { deleted, released } = await this.deps.meta.deleteObject(ref.account, ref.container, ref.name);
    if (!deleted) throw storageError('NoSuchKey', 'The specified key does not exist.');
    this.release(released);
    return deleted;
  }

  async setObjectMeta(ref: ObjectRef, meta: UserMeta, contentType?: string): Promise<void> {
    const ok = await this.deps.meta.updateObjectMeta(ref.account, ref.container, ref.name, meta, contentType);
    if (!ok) throw storageError('NoSuchKey', 'The specified key does not exist.');
  }

  /**
   * Copies an object's content (a large object's content is concatenated) into a new plain
   * object with the given metadata.
   */
  async copyObject(
    source: ObjectRef,
    target: ObjectRef,
    opts: (view: ObjectView) => { contentType: string; meta: UserMeta },
  ): Promise<ObjectRecord> {
    const view = await this.head(source);
    if (view.size > this.deps.limits.maxObjectSize) {
      throw storageError('EntityTooLarge', 'The source object is larger than the largest object allowed');
    }
    const { contentType, meta } = opts(view);
    const body = await this.read(view);
    return this.putObject(target, bodyIterable(body), { length: view.size, contentType, meta });
  }

  // Swift large objects

  /**
   * Stores a static large object manifest after checking every segment exists with the
   * etag and size the client gave (when given).
   */
  async putSloManifest(
    ref: ObjectRef,
    entries: readonly { path: string; etag?: string | null; size_bytes?: number | null }[],
    opts: { contentType: string; meta: UserMeta },
  ): Promise<ObjectRecord> {
    await this.container(ref.account, ref.container);
    if (entries.length === 0)
      throw storageError('InvalidManifest', 'Manifest must have at least one segment');
    if (entries.length > this.deps.limits.maxSegments) {
      throw storageError('InvalidManifest', `Too many segments (max ${this.deps.limits.maxSegments})`);
    }
    const segments: SloSegment[] = [];
    const problems: string[] = [];
    const etags = createHash('md5');
    let size = 0;
    for (const [i, e] of entries.entries()) {
      const { container, name } = splitSegmentPath(e.path);
      const seg = await this.deps.meta.getObject(ref.account, container, name);
      if (!seg || seg.kind !== 'plain') {
        problems.push(`Index ${i}: ${e.path}: 404 Not Found`);
        continue;
      }
      if (e.etag && e.etag.replace(/"/g, '') !== seg.etag) problems.push(`Index ${i}: Etag Mismatch`);
      if (e.size_bytes !== undefined && e.size_bytes !== null && e.size_bytes !== seg.size) {
        problems.push(`Index ${i}: Size Mismatch`);
      }
      etags.update(seg.etag);
      size += seg.size;
      segments.push({
        name: `/${container}/${name}`,
        hash: seg.etag,
        bytes: seg.size,
        content_type: seg.contentType,
        last_modified: new Date(seg.lastModified).toISOString().replace('Z', ''),
      });
    }
    if (problems.length > 0) throw storageError('InvalidManifest', problems.join('\n'));
    const record: ObjectRecord = {
      ...ref,
      size,
      etag: etags.digest('hex'),
      contentType: opts.contentType || DEFAULT_CONTENT_TYPE,
      lastModified: this.now(),
      meta: opts.meta,
      kind: 'slo',
      dataId: null,
      manifest: JSON.stringify(segments),
      uploadId: null,
    };
    await this.commitObject(record, []);
    return record;
  }

  /** Stores a dynamic large object: its content is every object under container/prefix. */
  async putDloManifest(
    ref: ObjectRef,
    manifest: string,
    opts: { contentType: string; meta: UserMeta },
  ): Promise<ObjectRecord> {
    await this.container(ref.account, ref.container);
    splitDloManifest(manifest);
    const record: ObjectRecord = {
      ...ref,
      size: 0,
      etag: createHash('md5').digest('hex'),
      contentType: opts.contentType || DEFAULT_CONTENT_TYPE,
      lastModified: this.now(),
      meta: opts.meta,
      kind: 'dlo',
      dataId: null,
      manifest,
      uploadId: null,
    };
    await this.commitObject(record, []);
    return record;
  }

  /** Deletes an SLO manifest and the segments it lists. */
  async deleteSlo(ref: ObjectRef): Promise<{ deleted: number; notFound: number }> {
    const view = await this.head(ref);
    if (view.record.kind !== 'slo') {
      await this.deleteObject(ref);
      return { deleted: 1, notFound: 0 };
    }
    let deleted = 0;
    let notFound = 0;
    for (const piece of view.pieces ?? []) {
      const seg = piece.segment!;
      try {
        await this.deleteObject({ account: ref.account, container: seg.container, name: seg.name });
        deleted++;
      } catch {
        notFound++;
      }
    }
    await this.deleteObject(ref);
    return { deleted: deleted + 1, notFound };
  }

  // S3 multipart uploads

  async createUpload(ref: ObjectRef, contentType: string, meta: UserMeta): Promise<UploadRecord> {
    const upload: UploadRecord = {
      ...ref,
      uploadId: randomBytes(18).toString('base64url'),
      contentType: contentType || DEFAULT_CONTENT_TYPE,
      meta,
      createdAt: this.now(),
    };
    await this.deps.meta.createUpload(upload);
    return upload;
  }

  async upload(ref: ObjectRef, uploadId: string): Promise<UploadRecord> {
    const u = await this.deps.meta.getUpload(uploadId);
    if (!u || u.account !== ref.account || u.container !== ref.container || u.name !== ref.name) {
      throw storageError(
        'NoSuchUpload',
        'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
      );
    }
    return u;
  }

  async uploadPart(
    ref: ObjectRef,
    uploadId: string,
    partNumber: number,
    body: AsyncIterable<Uint8Array>,
    expect: Omit<UploadExpectations, 'maxSize'>,
  ): Promise<PartRecord> {
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10000) {
      throw storageError('InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive');
    }
    await this.upload(ref, uploadId);
    const { dataId, digest } = await this.writeData(body, {
      ...expect,
      maxSize: this.deps.limits.maxObjectSize,
    });
    const part: PartRecord = {
      uploadId,
      partNumber,
      size: digest.size,
      etag: digest.md5Hex,
      dataId,
      lastModified: this.now(),
    };
    let released: string[];
    try {
      ({ released } = await this.deps.meta.putPart(part));
    } catch (err) {
      await this.deps.data.remove([dataId]);
      throw err;
    }
    this.release(released);
    return part;
  }

  async listParts(ref: ObjectRef, uploadId: string, afterPart: number, limit: number): Promise<PartRecord[]> {
    await this.upload(ref, uploadId);
    return this.deps.meta.listParts(uploadId, afterPart, limit);
  }

  async abortUpload(ref: ObjectRef, uploadId: string): Promise<void> {
    await this.upload(ref, uploadId);
    const { released } = await this.deps.meta.abortUpload(uploadId);
    this.release(released);
  }

  /** Completes an upload from the parts the client lists (in ascending order, etags matching). */
  async completeUpload(
    ref: ObjectRef,
    uploadId: string,
    chosen: readonly { partNumber: number; etag: string }[],
  ): Promise<ObjectRecord> {
    const upload = await this.upload(ref, uploadId);
    if (chosen.length === 0) {
      throw storageError('MalformedXML', 'You must specify at least one part');
    }
    const stored = new Map<number, PartRecord>();
    let after = 0;
    for (;;) {
      const page = await this.deps.meta.listParts(uploadId, after, 1000);
      for (const p of page) stored.set(p.partNumber, p);
      if (page.length < 1000) break;
      after = page[page.length - 1]!.partNumber;
    }
    const parts: MpuPart[] = [];
    const etags = createHash('md5');
    let size = 0;
    let previous = 0;
    for (const [i, c] of chosen.entries()) {
      if (c.partNumber <= previous) {
        throw storageError('InvalidPartOrder', 'The list of parts was not in ascending order.');
      }
      previous = c.partNumber;
      const p = stored.get(c.partNumber);
      if (!p || p.etag !== c.etag.replace(/"/g, '').toLowerCase()) {
        throw storageError(
          'InvalidPart',
          "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not have matched the part's entity tag.",
        );
      }
      if (i < chosen.length - 1 && p.size < this.deps.limits.minPartSize) {
        throw storageError(
          'EntityTooSmall',
          'Your proposed upload is smaller than the minimum allowed object size.',
        );
      }
      etags.update(Buffer.from(p.etag, 'hex'));
      size += p.size;
      parts.push({ dataId: p.dataId, size: p.size });
    }
    const record: ObjectRecord = {
      ...ref,
      size,
      etag: `${etags.digest('hex')}-${parts.length}`,
      contentType: upload.contentType,
      lastModified: this.now(),
      meta: upload.meta,
      kind: 'mpu',
      dataId: null,
      manifest: JSON.stringify(parts),
      uploadId,
    };
    const { released } = await this.deps.meta.completeUpload(
      uploadId,
      chosen.map((c) => c.partNumber),
      record,
    );
    this.release(released);
    return record;
  }

  listUploads(account: string, container: string, req: ListingRequest): Promise<Listing<UploadRecord>> {
    return listWithDelimiter((range) => this.deps.meta.listUploads(account, container, range), req);
  }
}

/** A reader's bytes as a body: whichever of stream and sendTo the consumer uses first. */
function streamBody(reader: DataReader, start: number, end: number): ObjectBody {
  let stream: Readable | undefined;
  const body: ObjectBody = {
    kind: 'stream',
    get stream(): Readable {
      stream ??= reader.stream(start, end);
      return stream;
    },
  };
  if (reader.sendTo) body.sendTo = (out) => reader.sendTo!(out, start, end);
  return body;
}

/** "/container/object" (leading slash optional, names as stored, not URL-encoded). */
export function splitSegmentPath(path: string): { container: string; name: string } {
  const trimmed = path.startsWith('/') ? path.slice(1) : path;
  const at = trimmed.indexOf('/');
  if (at <= 0 || at === trimmed.length - 1) {
    throw storageError('InvalidManifest', `Invalid segment path ${JSON.stringify(path)}`);
  }
  return { container: trimmed.slice(0, at), name: trimmed.slice(at + 1) };
}

/** A DLO manifest "container/prefix" (the prefix may be empty). */
function splitDloManifest(manifest: string): { container: string; prefix: string } {
  const at = manifest.indexOf('/');
  if (at <= 0)
    throw storageError('InvalidManifest', 'X-Object-Manifest must be in the format container/prefix');
  return { container: manifest.slice(0, at), prefix: manifest.slice(at + 1) };
}

async function* bodyIterable(body: ObjectBody): AsyncGenerator<Uint8Array> {
  if (body.kind === 'buffer') {
    yield body.data;
    return;
  }
  for await (const chunk of body.stream) yield chunk as Uint8Array;
}
