/**
 * The image as Glance users know it: base attributes with Glance's own (snake_case) names,
 * tags, and arbitrary string properties. Pure data and the value rules every write obeys.
 */
import { randomUUID } from 'node:crypto';
import { AppError, invalid } from '@strato/errors';

export const DISK_FORMATS = [
  'ami',
  'ari',
  'aki',
  'vhd',
  'vhdx',
  'vmdk',
  'raw',
  'qcow2',
  'vdi',
  'iso',
  'ploop',
] as const;
export const CONTAINER_FORMATS = ['ami', 'ari', 'aki', 'bare', 'ovf', 'ova', 'docker', 'compressed'] as const;
export const VISIBILITIES = ['public', 'private', 'shared', 'community'] as const;
export const IMAGE_STATUSES = [
  'queued',
  'saving',
  'active',
  'killed',
  'deleted',
  'pending_delete',
  'deactivated',
  'uploading',
  'importing',
] as const;
export const MEMBER_STATUSES = ['pending', 'accepted', 'rejected'] as const;

export type DiskFormat = (typeof DISK_FORMATS)[number];
export type ContainerFormat = (typeof CONTAINER_FORMATS)[number];
export type Visibility = (typeof VISIBILITIES)[number];
export type ImageStatus = (typeof IMAGE_STATUSES)[number];
export type MemberStatus = (typeof MEMBER_STATUSES)[number];

/** What a client may set (at create, or through PATCH). */
export interface ImageAttributes {
  name: string | null;
  visibility: Visibility;
  protected: boolean;
  os_hidden: boolean;
  owner: string | null;
  disk_format: DiskFormat | null;
  container_format: ContainerFormat | null;
  min_disk: number;
  min_ram: number;
  tags: string[];
  properties: Record<string, string>;
}

/** What only the service sets: identity, lifecycle and the data's facts. */
export interface ImageFacts {
  id: string;
  status: ImageStatus;
  size: number | null;
  virtual_size: number | null;
  checksum: string | null;
  os_hash_algo: string | null;
  os_hash_value: string | null;
  created_at: Date;
  updated_at: Date;
}

export type Image = ImageAttributes & ImageFacts;

export interface ImageMember {
  image_id: string;
  member_id: string;
  status: MemberStatus;
  created_at: Date;
  updated_at: Date;
}

/** Attributes the service alone sets: a client naming one is refused with 403. */
export const READ_ONLY_ATTRIBUTES: ReadonlySet<string> = new Set([
  'id',
  'status',
  'checksum',
  'os_hash_algo',
  'os_hash_value',
  'size',
  'virtual_size',
  'created_at',
  'updated_at',
  'direct_url',
  'self',
  'file',
  'schema',
]);
/** Names Glance keeps for itself: never properties, never settable. */
export const RESERVED_ATTRIBUTES: ReadonlySet<string> = new Set([
  'location',
  'deleted',
  'deleted_at',
  'locations',
]);
/** Glance keeps the os_glance namespace of properties to itself: no request may set one. */
export function isReserved(name: string): boolean {
  return RESERVED_ATTRIBUTES.has(name) || name.startsWith('os_glance');
}

/** Attributes with their own column (never stored as extra properties). */
export const BASE_ATTRIBUTES: ReadonlySet<string> = new Set([
  'name',
  'visibility',
  'protected',
  'os_hidden',
  'owner',
  'disk_format',
  'container_format',
  'min_disk',
  'min_ram',
  'tags',
  ...READ_ONLY_ATTRIBUTES,
]);

export interface AttributeLimits {
  /** Most tags on one image. */
  tagQuota: number;
  /** Most extra properties on one image. */
  propertyQuota: number;
}

const MAX_INT32 = 2 ** 31 - 1;
const MAX_PROPERTY_VALUE = 65535;

function schemaError(detail: string): AppError {
  return invalid(`Provided object does not match schema 'image': ${detail}`);
}

function quote(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return '<unprintable>'; // nested too deep to print
  }
}

function oneOf<T extends string>(
  name: string,
  value: unknown,
  allowed: readonly T[],
  nullable: boolean,
): T | null {
  if (value === null && nullable) return null;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw schemaError(
      `${quote(value)} is not one of [${allowed.map((a) => `'${a}'`).join(', ')}]${nullable ? ' or None' : ''} (${name})`,
    );
  }
  return value as T;
}

function nonNegativeInt(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw schemaError(`${quote(value)} is not of type 'integer' (${name})`);
  }
  if (value < 0) throw schemaError(`${value} is less than the minimum of 0 (${name})`);
  if (value > MAX_INT32) throw schemaError(`${value} is greater than the maximum of ${MAX_INT32} (${name})`);
  return value;
}

function bool(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw schemaError(`${quote(value)} is not of type 'boolean' (${name})`);
  return value;
}

function shortString(name: string, value: unknown, nullable: boolean): string | null {
  if (value === null && nullable) return null;
  if (typeof value !== 'string') {
    throw schemaError(`${quote(value)} is not of type 'string'${nullable ? " or 'null'" : ''} (${name})`);
  }
  if ([...value].length > 255) throw schemaError(`${quote(value)} is too long (${name})`);
  return value;
}

/** Sets one base attribute (or tags) after checking its value; unknown names are properties. */
export function setAttribute(target: ImageAttributes, name: string, value: unknown): void {
  switch (name) {
    case 'name':
      target.name = shortString(name, value, true);
      return;
    case 'owner':
      target.owner = shortString(name, value, true);
      return;
    case 'visibility':
      target.visibility = oneOf(name, value, VISIBILITIES, false)!;
      return;
    case 'protected':
      target.protected = bool(name, value);
      return;
    case 'os_hidden':
      target.os_hidden = bool(name, value);
      return;
    case 'disk_format':
      target.disk_format = oneOf(name, value, DISK_FORMATS, true);
      return;
    case 'container_format':
      target.container_format = oneOf(name, value, CONTAINER_FORMATS, true);
      return;
    case 'min_disk':
      target.min_disk = nonNegativeInt(name, value);
      return;
    case 'min_ram':
      target.min_ram = nonNegativeInt(name, value);
      return;
    case 'tags':
      target.tags = validTags(value);
      return;
    default:
      setProperty(target, name, value);
  }
}

export function validTag(value: unknown): string {
  const tag = shortString('tags', value, false)!;
  if (tag.length === 0) throw schemaError("'' is too short (tags)");
  return tag;
}

function validTags(value: unknown): string[] {
  if (!Array.isArray(value)) throw schemaError(`${quote(value)} is not of type 'array' (tags)`);
  const tags = value.map(validTag);
  if (new Set(tags).size !== tags.length) throw schemaError(`${quote(value)} has non-unique elements (tags)`);
  return tags;
}

function setProperty(target: ImageAttributes, name: string, value: unknown): void {
  if (isReserved(name)) throw new AppError('Forbidden', `Attribute '${name}' is reserved.`);
  if (READ_ONLY_ATTRIBUTES.has(name)) throw new AppError('Forbidden', `Attribute '${name}' is read-only.`);
  if (name.length === 0 || [...name].length > 255 || name.includes('\0')) {
    throw schemaError(`${quote(name)} is not a valid property name`);
  }
  if (typeof value !== 'string') throw schemaError(`${quote(value)} is not of type 'string' (${name})`);
  if (value.length > MAX_PROPERTY_VALUE || value.includes('\0')) {
    throw schemaError(`the value of ${quote(name)} is too long or contains NUL`);
  }
  target.properties[name] = value;
}

/** Quotas that hold for the image as a whole, checked after every change. */
export function checkLimits(image: ImageAttributes, limits: AttributeLimits): void {
  if (image.tags.length > limits.tagQuota) {
    throw new AppError(
      'PayloadTooLarge',
      `Maximum number of tags exceeded (${image.tags.length} > ${limits.tagQuota}).`,
    );
  }
  const count = Object.keys(image.properties).length;
  if (count > limits.propertyQuota) {
    throw new AppError(
      'PayloadTooLarge',
      `Maximum number of properties exceeded (${count} > ${limits.propertyQuota}).`,
    );
  }
}

/** A prototype-less copy, so a property named "__proto__" is just a property. */
export function propertyMap(from: Readonly<Record<string, string>>): Record<string, string> {
  return Object.assign(Object.create(null) as Record<string, string>, from);
}

export function cloneAttributes(image: ImageAttributes): ImageAttributes {
  return {
    name: image.name,
    visibility: image.visibility,
    protected: image.protected,
    os_hidden: image.os_hidden,
    owner: image.owner,
    disk_format: image.disk_format,
    container_format: image.container_format,
    min_disk: image.min_disk,
    min_ram: image.min_ram,
    tags: [...image.tags],
    properties: propertyMap(image.properties),
  };
}

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/**
 * A new queued image from a create request body (Glance's POST /v2/images): base attributes
 * are checked, read-only ones refused (403), anything else becomes a string property.
 */
export function newImage(
  body: unknown,
  defaults: { owner: string; now: Date; id?: string },
  limits: AttributeLimits,
): Image {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalid('Body expected in request.');
  }
  const fields = { ...(body as Record<string, unknown>) };
  let id = defaults.id ?? randomUUID();
  if ('id' in fields) {
    const given = fields.id;
    if (typeof given !== 'string' || !UUID.test(given)) {
      throw schemaError(`${quote(given)} is not a 'uuid' (id)`);
    }
    id = formatUuid(given);
    delete fields.id;
  }
  const attrs: ImageAttributes = {
    name: null,
    visibility: 'shared',
    protected: false,
    os_hidden: false,
    owner: defaults.owner,
    disk_format: null,
    container_format: null,
    min_disk: 0,
    min_ram: 0,
    tags: [],
    properties: propertyMap({}),
  };
  for (const [name, value] of Object.entries(fields)) {
    if (READ_ONLY_ATTRIBUTES.has(name)) throw new AppError('Forbidden', `Attribute '${name}' is read-only.`);
    setAttribute(attrs, name, value);
  }
  checkLimits(attrs, limits);
  return {
    ...attrs,
    id,
    status: 'queued',
    size: null,
    virtual_size: null,
    checksum: null,
    os_hash_algo: null,
    os_hash_value: null,
    created_at: defaults.now,
    updated_at: defaults.now,
  };
}

function formatUuid(value: string): string {
  const hex = value.replace(/-/g, '').toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
