/** The JSON Glance returns for images, lists and members, field for field. */
import type { Image, ImageMember } from '../domain/image';

/** Glance's timestamps: seconds, UTC, "Z". */
export function isoSeconds(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}

export function imageView(image: Image): Record<string, unknown> {
  return {
    ...image.properties,
    name: image.name,
    disk_format: image.disk_format,
    container_format: image.container_format,
    visibility: image.visibility,
    size: image.size,
    virtual_size: image.virtual_size,
    status: image.status,
    checksum: image.checksum,
    protected: image.protected,
    min_ram: image.min_ram,
    min_disk: image.min_disk,
    owner: image.owner,
    os_hidden: image.os_hidden,
    os_hash_algo: image.os_hash_algo,
    os_hash_value: image.os_hash_value,
    id: image.id,
    created_at: isoSeconds(image.created_at),
    updated_at: isoSeconds(image.updated_at),
    tags: image.tags,
    self: `/v2/images/${image.id}`,
    file: `/v2/images/${image.id}/file`,
    schema: '/v2/schemas/image',
  };
}

export function memberView(member: ImageMember): Record<string, unknown> {
  return {
    created_at: isoSeconds(member.created_at),
    image_id: member.image_id,
    member_id: member.member_id,
    schema: '/v2/schemas/member',
    status: member.status,
    updated_at: isoSeconds(member.updated_at),
  };
}
