/**
 * The metadata store on PostgreSQL or SQLite. Reads go straight to the database; every write
 * goes through the group commit, and keeps the container and account counters in the same
 * transaction as the change that moves them.
 */
import { storageError } from '../domain/errors';
import { prefixEndOf } from '../domain/prefix';
import type { MetadataStore, MetaPatch } from '../domain/metadata-store';
import type {
  AccountRecord,
  ContainerRecord,
  ListRange,
  ObjectKind,
  ObjectRecord,
  PartRecord,
  UploadRecord,
  UserMeta,
} from '../domain/records';
import { GroupCommit } from './group-commit';
import type { Param, Row, SqlDatabase, SqlExecutor } from './sql';

const OBJECT_COLUMNS =
  'account, container, name, size, etag, content_type, last_modified, meta, kind, data_id, manifest, upload_id';

function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v);
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : String(v);
}

function strOrNull(v: unknown): string | null {
  return v === null || v === undefined ? null : str(v);
}

function parseMeta(v: unknown): UserMeta {
  if (typeof v !== 'string' || v === '' || v === '{}') return {};
  return JSON.parse(v) as UserMeta;
}

function applyPatch(current: UserMeta, patch: MetaPatch): UserMeta {
  const next: UserMeta = { ...current };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null || v === '') delete next[k];
    else next[k] = v;
  }
  return next;
}

function toAccount(r: Row): AccountRecord {
  return {
    account: str(r.account),
    containerCount: num(r.container_count),
    objectCount: num(r.object_count),
    bytesUsed: num(r.bytes_used),
    createdAt: num(r.created_at),
    meta: parseMeta(r.meta),
  };
}

function toContainer(r: Row): ContainerRecord {
  return {
    account: str(r.account),
    name: str(r.name),
    objectCount: num(r.object_count),
    bytesUsed: num(r.bytes_used),
    createdAt: num(r.created_at),
    modifiedAt: num(r.modified_at),
    meta: parseMeta(r.meta),
  };
}

function toObject(r: Row): ObjectRecord {
  return {
    account: str(r.account),
    container: str(r.container),
    name: str(r.name),
    size: num(r.size),
    etag: str(r.etag),
    contentType: str(r.content_type),
    lastModified: num(r.last_modified),
    meta: parseMeta(r.meta),
    kind: str(r.kind) as ObjectKind,
    dataId: strOrNull(r.data_id),
    manifest: strOrNull(r.manifest),
    uploadId: strOrNull(r.upload_id),
  };
}

function toUpload(r: Row): UploadRecord {
  return {
    uploadId: str(r.upload_id),
    account: str(r.account),
    container: str(r.container),
    name: str(r.name),
    contentType: str(r.content_type),
    meta: parseMeta(r.meta),
    createdAt: num(r.created_at),
  };
}

function toPart(r: Row): PartRecord {
  return {
    uploadId: str(r.upload_id),
    partNumber: num(r.part_number),
    size: num(r.size),
    etag: str(r.etag),
    dataId: str(r.data_id),
    lastModified: num(r.last_modified),
  };
}

/** WHERE fragments for a name window over column `col`. */
function rangeClause(col: string, range: ListRange): { sql: string; params: Param[] } {
  const parts: string[] = [];
  const params: Param[] = [];
  if (range.prefix) {
    parts.push(`${col} >= ?`);
    params.push(range.prefix);
    const end = prefixEndOf(range.prefix);
    if (end !== undefined) {
      parts.push(`${col} < ?`);
      params.push(end);
    }
  }
  if (range.after !== undefined) {
    parts.push(`${col} > ?`);
    params.push(range.after);
  }
  if (range.startAt !== undefined) {
    parts.push(`${col} >= ?`);
    params.push(range.startAt);
  }
  if (range.before !== undefined) {
    parts.push(`${col} < ?`);
    params.push(range.before);
  }
  return { sql: parts.map((p) => ` AND ${p}`).join(''), params };
}

export class MetadataRepository implements MetadataStore {
  private readonly writes: GroupCommit;

  constructor(private readonly db: SqlDatabase) {
    this.writes = new GroupCommit(db);
  }

  async close(): Promise<void> {
    await this.writes.idle();
    await this.db.close?.();
  }

  // accounts

  async getAccount(account: string): Promise<AccountRecord | null> {
    const rows = await this.db.all('SELECT * FROM {os_accounts} WHERE account = ?', [account]);
    return rows[0] ? toAccount(rows[0]) : null;
  }

  updateAccountMeta(account: string, patch: MetaPatch): Promise<void> {
    return this.writes.submit(async (tx) => {
      await ensureAccount(tx, account, Date.now());
      const rows = await tx.all('SELECT meta FROM {os_accounts} WHERE account = ?', [account]);
      const meta = applyPatch(parseMeta(rows[0]?.meta), patch);
      await tx.run('UPDATE {os_accounts} SET meta = ? WHERE account = ?', [JSON.stringify(meta), account]);
    });
  }

  async listContainers(account: string, range: ListRange): Promise<ContainerRecord[]> {
    const where = rangeClause('name', range);
    const rows = await this.db.all(
      `SELECT * FROM {os_containers} WHERE account = ?${where.sql} ORDER BY name ${range.reverse ? 'DESC' : 'ASC'} LIMIT ?`,
      [account, ...where.params, range.limit],
    );
    return rows.map(toContainer);
  }

  // containers

  async getContainer(account: string, name: string): Promise<ContainerRecord | null> {
    const rows = await this.db.all('SELECT * FROM {os_containers} WHERE account = ? AND name = ?', [
      account,
      name,
    ]);
    return rows[0] ? toContainer(rows[0]) : null;
  }

  createContainer(account: string, name: string, patch: MetaPatch, now: number): Promise<boolean> {
    return this.writes.submit(async (tx) => {
      await ensureAccount(tx, account, now);
      const existing = await tx.all('SELECT meta FROM {os_containers} WHERE account = ? AND name = ?', [
        account,
        name,
      ]);
      if (existing[0]) {
        if (Object.keys(patch).length > 0) {
          const meta = applyPatch(parseMeta(existing[0].meta), patch);
          await tx.run(
            'UPDATE {os_containers} SET meta = ?, modified_at = ? WHERE account = ? AND name = ?',
            [JSON.stringify(meta), now, account, name],
          );
        }
        return false;
      }
      await tx.run(
        'INSERT INTO {os_containers} (account, name, object_count, bytes_used, created_at, modified_at, meta) VALUES (?, ?, 0, 0, ?, ?, ?)',
        [account, name, now, now, JSON.stringify(applyPatch({}, patch))],
      );
      await tx.run('UPDATE {os_accounts} SET container_count = container_count + 1 WHERE account = ?', [
        account,
      ]);
      return true;
    });
  }

  updateContainerMeta(account: string, name: string, patch: MetaPatch): Promise<void> {
    return this.writes.submit(async (tx) => {
      const rows = await tx.all('SELECT meta FROM {os_containers} WHERE account = ? AND name = ?', [
        account,
        name,
      ]);
      if (!rows[0]) throw storageError('NoSuchBucket', 'The specified container does not exist.');
      const meta = applyPatch(parseMeta(rows[0].meta), patch);
      await tx.run('UPDATE {os_containers} SET meta = ?, modified_at = ? WHERE account = ? AND name = ?', [
        JSON.stringify(meta),
        Date.now(),
        account,
        name,
      ]);
    });
  }

  deleteContainer(account: string, name: string): Promise<'deleted' | 'missing' | 'not-empty'> {
    return this.writes.submit(async (tx) => {
      const rows = await tx.all('SELECT object_count FROM {os_containers} WHERE account = ? AND name = ?', [
        account,
        name,
      ]);
      if (!rows[0]) return 'missing' as const;
      const any = await tx.all(
        'SELECT 1 AS x FROM {os_objects} WHERE account = ? AND container = ? LIMIT 1',
        [account, name],
      );
      if (any.length > 0) return 'not-empty' as const;
      const uploads = await tx.all(
        'SELECT 1 AS x FROM {os_uploads} WHERE account = ? AND container = ? LIMIT 1',
        [account, name],
      );
      if (uploads.length > 0) return 'not-empty' as const;
      await tx.run('DELETE FROM {os_containers} WHERE account = ? AND name = ?', [account, name]);
      await tx.run('UPDATE {os_accounts} SET container_count = container_count - 1 WHERE account = ?', [
        account,
      ]);
      return 'deleted' as const;
    });
  }

  // objects

  async getObject(account: string, container: string, name: string): Promise<ObjectRecord | null> {
    const rows = await this.db.all(
      `SELECT ${OBJECT_COLUMNS} FROM {os_objects} WHERE account = ? AND container = ? AND name = ?`,
      [account, container, name],
    );
    return rows[0] ? toObject(rows[0]) : null;
  }

  async listObjects(account: string, container: string, range: ListRange): Promise<ObjectRecord[]> {
    const where = rangeClause('name', range);
    const rows = await this.db.all(
      `SELECT ${OBJECT_COLUMNS} FROM {os_objects} WHERE account = ? AND container = ?${where.sql} ORDER BY name ${range.reverse ? 'DESC' : 'ASC'} LIMIT ?`,
      [account, container, ...where.params, range.limit],
    );
    return rows.map(toObject);
  }

  putObject(record: ObjectRecord): Promise<{ released: string[] }> {
    return this.writes.submit(async (tx) => {
      await requireContainer(tx, record.account, record.container);
      const released = await replaceObject(tx, record);
      return { released };
    });
  }

  deleteObject(
    account: string,
    container: string,
    name: string,
  ): Promise<{ deleted: ObjectRecord | null; released: string[] }> {
    return this.writes.submit(async (tx) => {
      const rows = await tx.all(
        `SELECT ${OBJECT_COLUMNS} FROM {os_objects} WHERE account = ? AND container = ? AND name = ?`,
        [account, container, name],
      );
      if (!rows[0]) return { deleted: null, released: [] };
      const prev = toObject(rows[0]);
      await tx.run('DELETE FROM {os_objects} WHERE account = ? AND container = ? AND name = ?', [
        account,
        container,
        name,
      ]);
      await adjustCounters(tx, account, container, -1, -prev.size);
      return { deleted: prev, released: await releaseObjectData(tx, prev) };
    });
  }

  updateObjectMeta(
    account: string,
    container: string,
    name: string,
    meta: UserMeta,
    contentType: string | undefined,
  ): Promise<boolean> {
    return this.writes.submit(async (tx) => {
      const changed =
        contentType === undefined
          ? await tx.run(
              'UPDATE {os_objects} SET meta = ? WHERE account = ? AND container = ? AND name = ?',
              [JSON.stringify(meta), account, container, name],
            )
          : await tx.run(
              'UPDATE {os_objects} SET meta = ?, content_type = ? WHERE account = ? AND container = ? AND name = ?',
              [JSON.stringify(meta), contentType, account, container, name],
            );
      return changed > 0;
    });
  }

  // multipart uploads

  createUpload(u: UploadRecord): Promise<void> {
    return this.writes.submit(async (tx) => {
      await requireContainer(tx, u.account, u.container);
      await tx.run(
        'INSERT INTO {os_uploads} (upload_id, account, container, name, content_type, meta, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
        [u.uploadId, u.account, u.container, u.name, u.contentType, JSON.stringify(u.meta), u.createdAt],
      );
    });
  }

  async getUpload(uploadId: string): Promise<UploadRecord | null> {
    const rows = await this.db.all('SELECT * FROM {os_uploads} WHERE upload_id = ?', [uploadId]);
    return rows[0] ? toUpload(rows[0]) : null;
  }

  async listUploads(account: string, container: string, range: ListRange): Promise<UploadRecord[]> {
    const where = rangeClause('name', range);
    const rows = await this.db.all(
      `SELECT * FROM {os_uploads} WHERE account = ? AND container = ?${where.sql} ORDER BY name, upload_id LIMIT ?`,
      [account, container, ...where.params, range.limit],
    );
    return rows.map(toUpload);
  }

  putPart(part: PartRecord): Promise<{ released: string[] }> {
    return this.writes.submit(async (tx) => {
      const upload = await tx.all('SELECT 1 AS x FROM {os_uploads} WHERE upload_id = ?', [part.uploadId]);
      if (upload.length === 0) throw noSuchUpload();
      const prev = await tx.all(
        'SELECT data_id FROM {os_upload_parts} WHERE upload_id = ? AND part_number = ?',
        [part.uploadId, part.partNumber],
      );
      await tx.run(
        `INSERT INTO {os_upload_parts} (upload_id, part_number, size, etag, data_id, last_modified, completed)
         VALUES (?, ?, ?, ?, ?, ?, 0)
         ON CONFLICT (upload_id, part_number) DO UPDATE SET size = excluded.size, etag = excluded.etag,
           data_id = excluded.data_id, last_modified = excluded.last_modified`,
        [part.uploadId, part.partNumber, part.size, part.etag, part.dataId, part.lastModified],
      );
      return { released: prev[0] ? [str(prev[0].data_id)] : [] };
    });
  }

  async listParts(uploadId: string, afterPart: number, limit: number): Promise<PartRecord[]> {
    const rows = await this.db.all(
      'SELECT * FROM {os_upload_parts} WHERE upload_id = ? AND part_number > ? ORDER BY part_number LIMIT ?',
      [uploadId, afterPart, limit],
    );
    return rows.map(toPart);
  }

  abortUpload(uploadId: string): Promise<{ found: boolean; released: string[] }> {
    return this.writes.submit(async (tx) => {
      const found = (await tx.run('DELETE FROM {os_uploads} WHERE upload_id = ?', [uploadId])) > 0;
      if (!found) return { found, released: [] };
      const parts = await tx.all('SELECT data_id FROM {os_upload_parts} WHERE upload_id = ?', [uploadId]);
      await tx.run('DELETE FROM {os_upload_parts} WHERE upload_id = ?', [uploadId]);
      return { found, released: parts.map((p) => str(p.data_id)) };
    });
  }

  completeUpload(
    uploadId: string,
    keepParts: readonly number[],
    record: ObjectRecord,
  ): Promise<{ released: string[] }> {
    return this.writes.submit(async (tx) => {
      const upload = await tx.all('SELECT 1 AS x FROM {os_uploads} WHERE upload_id = ?', [uploadId]);
      if (upload.length === 0) throw noSuchUpload();
      await requireContainer(tx, record.account, record.container);
      const keep = new Set(keepParts);
      const parts = await tx.all('SELECT part_number, data_id FROM {os_upload_parts} WHERE upload_id = ?', [
        uploadId,
      ]);
      const dropped = parts.filter((p) => !keep.has(num(p.part_number)));
      for (const p of dropped) {
        await tx.run('DELETE FROM {os_upload_parts} WHERE upload_id = ? AND part_number = ?', [
          uploadId,
          num(p.part_number),
        ]);
      }
      await tx.run('UPDATE {os_upload_parts} SET completed = 1 WHERE upload_id = ?', [uploadId]);
      await tx.run('DELETE FROM {os_uploads} WHERE upload_id = ?', [uploadId]);
      const released = await replaceObject(tx, record);
      return { released: [...released, ...dropped.map((p) => str(p.data_id))] };
    });
  }

  async referencedDataIds(dataIds: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (let i = 0; i < dataIds.length; i += 500) {
      const chunk = dataIds.slice(i, i + 500);
      const marks = chunk.map(() => '?').join(', ');
      const rows = await this.db.all(
        `SELECT data_id FROM {os_objects} WHERE data_id IN (${marks})
         UNION SELECT data_id FROM {os_upload_parts} WHERE data_id IN (${marks})`,
        [...chunk, ...chunk],
      );
      for (const r of rows) found.add(str(r.data_id));
    }
    return found;
  }
}

function noSuchUpload() {
  return storageError(
    'NoSuchUpload',
    'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
  );
}

async function ensureAccount(tx: SqlExecutor, account: string, now: number): Promise<void> {
  await tx.run(
    `INSERT INTO {os_accounts} (account, container_count, object_count, bytes_used, created_at, meta)
     VALUES (?, 0, 0, 0, ?, '{}') ON CONFLICT (account) DO NOTHING`,
    [account, now],
  );
}

async function requireContainer(tx: SqlExecutor, account: string, container: string): Promise<void> {
  const rows = await tx.all('SELECT 1 AS x FROM {os_containers} WHERE account = ? AND name = ?', [
    account,
    container,
  ]);
  if (rows.length === 0) throw storageError('NoSuchBucket', 'The specified container does not exist.');
}

async function adjustCounters(
  tx: SqlExecutor,
  account: string,
  container: string,
  objects: number,
  bytes: number,
): Promise<void> {
  await tx.run(
    'UPDATE {os_containers} SET object_count = object_count + ?, bytes_used = bytes_used + ?, modified_at = ? WHERE account = ? AND name = ?',
    [objects, bytes, Date.now(), account, container],
  );
  await tx.run(
    'UPDATE {os_accounts} SET object_count = object_count + ?, bytes_used = bytes_used + ? WHERE account = ?',
    [objects, bytes, account],
  );
}

/** Data ids an object stops referring to when it goes away (its parts' rows go too). */
async function releaseObjectData(tx: SqlExecutor, prev: ObjectRecord): Promise<string[]> {
  const released = prev.dataId ? [prev.dataId] : [];
  if (prev.kind === 'mpu' && prev.uploadId) {
    const parts = await tx.all('SELECT data_id FROM {os_upload_parts} WHERE upload_id = ?', [prev.uploadId]);
    await tx.run('DELETE FROM {os_upload_parts} WHERE upload_id = ?', [prev.uploadId]);
    released.push(...parts.map((p) => str(p.data_id)));
  }
  return released;
}

/** Inserts or replaces an object row, moving the counters; returns the data it released. */
async function replaceObject(tx: SqlExecutor, r: ObjectRecord): Promise<string[]> {
  const rows = await tx.all(
    `SELECT ${OBJECT_COLUMNS} FROM {os_objects} WHERE account = ? AND container = ? AND name = ?`,
    [r.account, r.container, r.name],
  );
  const prev = rows[0] ? toObject(rows[0]) : null;
  await tx.run(
    `INSERT INTO {os_objects} (${OBJECT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (account, container, name) DO UPDATE SET size = excluded.size, etag = excluded.etag,
       content_type = excluded.content_type, last_modified = excluded.last_modified, meta = excluded.meta,
       kind = excluded.kind, data_id = excluded.data_id, manifest = excluded.manifest, upload_id = excluded.upload_id`,
    [
      r.account,
      r.container,
      r.name,
      r.size,
      r.etag,
      r.contentType,
      r.lastModified,
      JSON.stringify(r.meta),
      r.kind,
      r.dataId,
      r.manifest,
      r.uploadId,
    ],
  );
  await adjustCounters(tx, r.account, r.container, prev ? 0 : 1, r.size - (prev?.size ?? 0));
  if (!prev) return [];
  if (prev.kind === 'mpu' && prev.uploadId === r.uploadId) return [];
  return releaseObjectData(tx, prev);
}
