/**
 * The metadata store: every change to accounts, containers and objects, with their counters
 * (object count, bytes used) kept consistent in the same transaction. Methods that change an
 * object return the data ids that stopped being referenced, for the caller to remove from
 * the backend once the change is committed (an orphan left by a crash is swept at start).
 */
import type {
  AccountRecord,
  ContainerRecord,
  ListRange,
  ObjectRecord,
  PartRecord,
  UploadRecord,
  UserMeta,
} from './records';

/** A metadata change: the key is removed when its value is null. */
export type MetaPatch = Record<string, string | null>;

export interface MetadataStore {
  getAccount(account: string): Promise<AccountRecord | null>;
  /** Creates the account when needed and applies the patch. */
  updateAccountMeta(account: string, patch: MetaPatch): Promise<void>;
  listContainers(account: string, range: ListRange): Promise<ContainerRecord[]>;

  getContainer(account: string, name: string): Promise<ContainerRecord | null>;
  /** true when created; an existing container gets the patch applied. */
  createContainer(account: string, name: string, patch: MetaPatch, now: number): Promise<boolean>;
  /** Rejects NotFound (NoSuchBucket) when missing. */
  updateContainerMeta(account: string, name: string, patch: MetaPatch): Promise<void>;
  deleteContainer(account: string, name: string): Promise<'deleted' | 'missing' | 'not-empty'>;

  getObject(account: string, container: string, name: string): Promise<ObjectRecord | null>;
  listObjects(account: string, container: string, range: ListRange): Promise<ObjectRecord[]>;
  /** Creates or replaces; rejects NoSuchBucket when the container is missing. */
  putObject(record: ObjectRecord): Promise<{ released: string[] }>;
  deleteObject(
    account: string,
    container: string,
    name: string,
  ): Promise<{ deleted: ObjectRecord | null; released: string[] }>;
  /** Replaces the user metadata (and content type when given); false when missing. */
  updateObjectMeta(
    account: string,
    container: string,
    name: string,
    meta: UserMeta,
    contentType: string | undefined,
  ): Promise<boolean>;

  createUpload(upload: UploadRecord): Promise<void>;
  getUpload(uploadId: string): Promise<UploadRecord | null>;
  listUploads(account: string, container: string, range: ListRange): Promise<UploadRecord[]>;
  /** Adds or replaces a part of an open upload; rejects NoSuchUpload when it is gone. */
  putPart(part: PartRecord): Promise<{ released: string[] }>;
  listParts(uploadId: string, afterPart: number, limit: number): Promise<PartRecord[]>;
  /** Removes an upload and its parts. */
  abortUpload(uploadId: string): Promise<{ found: boolean; released: string[] }>;
  /**
   * Turns an upload into an object made of the chosen parts (the others are released),
   * replacing any object of that name.
   */
  completeUpload(
    uploadId: string,
    keepParts: readonly number[],
    record: ObjectRecord,
  ): Promise<{ released: string[] }>;

  /** Of these data ids, the ones some object or part refers to. */
  referencedDataIds(dataIds: readonly string[]): Promise<Set<string>>;
  close(): Promise<void>;
}
