/** What the metadata store holds: accounts, containers, objects and S3 multipart uploads. */

export type UserMeta = Record<string, string>;

export interface AccountRecord {
  account: string;
  containerCount: number;
  objectCount: number;
  bytesUsed: number;
  createdAt: number;
  meta: UserMeta;
}

export interface ContainerRecord {
  account: string;
  name: string;
  objectCount: number;
  bytesUsed: number;
  createdAt: number;
  /** Last change of the container itself or its objects (ms). */
  modifiedAt: number;
  meta: UserMeta;
}

/**
 * plain: bytes in one data item. slo: Swift static large object (segments are other objects,
 * listed in `manifest`). dlo: Swift dynamic large object (`manifest` = "container/prefix").
 * mpu: a completed S3 multipart upload (parts are data items owned by the object).
 */
export type ObjectKind = 'plain' | 'slo' | 'dlo' | 'mpu';

export interface ObjectRecord {
  account: string;
  container: string;
  name: string;
  size: number;
  /** Hex MD5 for plain objects; the composite etag for slo/mpu. */
  etag: string;
  contentType: string;
  /** Milliseconds since the epoch. */
  lastModified: number;
  meta: UserMeta;
  kind: ObjectKind;
  dataId: string | null;
  manifest: string | null;
  /** The multipart upload whose parts an mpu object is made of. */
  uploadId: string | null;
}

/** One SLO segment as stored in the manifest. */
export interface SloSegment {
  /** "/container/object" */
  name: string;
  hash: string;
  bytes: number;
  content_type?: string;
  last_modified?: string;
  range?: string;
}

/** One part of a completed multipart object, as stored in its manifest. */
export interface MpuPart {
  dataId: string;
  size: number;
}

export interface UploadRecord {
  uploadId: string;
  account: string;
  container: string;
  name: string;
  contentType: string;
  meta: UserMeta;
  createdAt: number;
}

export interface PartRecord {
  uploadId: string;
  partNumber: number;
  size: number;
  etag: string;
  dataId: string;
  lastModified: number;
}

/** A window of names in byte order; reverse walks it from the end. */
export interface ListRange {
  prefix?: string | undefined;
  /** Names strictly after this one. */
  after?: string | undefined;
  /** Names from this one on (inclusive). */
  startAt?: string | undefined;
  /** Names strictly before this one. */
  before?: string | undefined;
  limit: number;
  reverse?: boolean | undefined;
}
