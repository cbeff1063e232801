/**
 * Image documents as the Image service (Glance v2) returns them, read into the contract's
 * image: what the api checks before a boot and what a compute agent fetches. Everything that
 * is not one of Glance's own fields is a property (kernel_id, hw_*, os_command_line…).
 */
import type { Image } from './common';

/** Glance's own fields of an image document: never properties, and not settable as one. */
export const GLANCE_CORE_FIELDS: ReadonlySet<string> = new Set([
  'id',
  'name',
  'status',
  'visibility',
  'protected',
  'checksum',
  'os_hash_algo',
  'os_hash_value',
  'owner',
  'size',
  'virtual_size',
  'min_ram',
  'min_disk',
  'created_at',
  'updated_at',
  'tags',
  'self',
  'file',
  'schema',
  'disk_format',
  'container_format',
  'os_hidden',
  'locations',
  'direct_url',
]);

/** The contract's image (checksum: os_hash_value, else the MD5 checksum) with Glance's status. */
export function imageFromGlance(doc: Record<string, unknown>): Image & { status: string } {
  const str = (v: unknown) => (typeof v === 'string' ? v : null);
  const count = (v: unknown) =>
    typeof v === 'number' && Number.isFinite(v) ? Math.max(0, Math.floor(v)) : 0;
  const properties: Record<string, string> = {};
  for (const [k, v] of Object.entries(doc)) {
    if (GLANCE_CORE_FIELDS.has(k) || v === null || v === undefined) continue;
    properties[k.slice(0, 255)] = (typeof v === 'string' ? v : JSON.stringify(v)).slice(0, 65535);
  }
  return {
    id: String(doc.id),
    name: str(doc.name),
    status: str(doc.status) ?? 'unknown',
    disk_format: str(doc.disk_format),
    container_format: str(doc.container_format),
    size: typeof doc.size === 'number' ? count(doc.size) : null,
    checksum: str(doc.os_hash_value) ?? str(doc.checksum),
    min_ram_mb: count(doc.min_ram),
    min_disk_gb: count(doc.min_disk),
    properties,
  };
}
