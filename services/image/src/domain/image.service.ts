/**
 * The Image v2 use cases: catalogue (create, list, show, patch, delete, tags, members) and
 * data (upload into and download from the data store, with status queued → saving → active
 * and back to queued when an upload fails).
 */
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import { AppError, conflict, forbidden, invalid, isAppError, notFound } from '@strato/errors';
import type { Logger } from '@strato/log';
import {
  MEMBER_STATUSES,
  checkLimits,
  newImage,
  validTag,
  type AttributeLimits,
  type Image,
  type ImageMember,
  type MemberStatus,
} from './image';
import { applyPatch, parsePatch } from './image-patch';
import { canModify, canSee, checkAttributeChange, isOwner, type Caller } from './image-policy';
import type { ListCriteria } from './image-query';
import type { ByteRange, ImageDataStore } from './image-data';
import { parseRange } from './byte-range';
import { HeaderCapture, virtualSizeOf } from './virtual-size';
import type { ImageRepository } from './ports';

export interface ImageServiceDeps {
  images: ImageRepository;
  data: ImageDataStore;
  log: Logger;
  limits: AttributeLimits & { sizeCap: number; memberQuota: number };
  now?: () => Date;
}

export type Download =
  { image: Image; data: null } | { image: Image; data: Readable; range: ByteRange | null; size: number };

export class ImageService {
  private readonly now: () => Date;

  constructor(private readonly deps: ImageServiceDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async create(caller: Caller, body: unknown): Promise<Image> {
    const image = newImage(body, { owner: caller.projectId, now: this.now() }, this.deps.limits);
    checkAttributeChange(null, image, caller);
    if (!(await this.deps.images.insert(image))) {
      throw conflict(`Image with identifier ${image.id} already exists!`);
    }
    return image;
  }

  async list(caller: Caller, criteria: ListCriteria): Promise<Image[]> {
    let after: Image | null = null;
    if (criteria.marker !== null) {
      after = await this.findVisible(caller, criteria.marker);
      if (!after) throw invalid(`Invalid marker. Image ${criteria.marker} could not be found.`);
    }
    return this.deps.images.list(criteria, caller, after);
  }

  async get(caller: Caller, id: string): Promise<Image> {
    const image = await this.findVisible(caller, id);
    if (!image) throw notFound(`No image found with ID ${id}`);
    return image;
  }

  async update(caller: Caller, id: string, patch: unknown): Promise<Image> {
    const operations = parsePatch(patch);
    const image = await this.modifiable(caller, id, 'modify');
    const next = applyPatch(image, operations);
    checkLimits(next, this.deps.limits);
    checkAttributeChange(image, next, caller);
    if (!(await this.deps.images.saveAttributes(id, next, this.now()))) {
      throw notFound(`No image found with ID ${id}`);
    }
    return this.get(caller, id);
  }

  async delete(caller: Caller, id: string): Promise<void> {
    const image = await this.modifiable(caller, id, 'delete');
    if (image.protected) throw forbidden(`Image ${id} is protected and cannot be deleted.`);
    if (!(await this.deps.images.delete(id))) throw notFound(`No image found with ID ${id}`);
    if (image.status !== 'queued') await this.removeData(id);
  }

  async addTag(caller: Caller, id: string, tag: string): Promise<void> {
    const image = await this.modifiable(caller, id, 'modify');
    const value = validTag(tag);
    if (image.tags.includes(value)) return;
    const next = { ...image, tags: [...image.tags, value] };
    checkLimits(next, this.deps.limits);
    await this.deps.images.saveAttributes(id, next, this.now());
  }

  async removeTag(caller: Caller, id: string, tag: string): Promise<void> {
    const image = await this.modifiable(caller, id, 'modify');
    if (!image.tags.includes(tag)) throw notFound(`Tag ${tag} not found on image ${id}.`);
    await this.deps.images.saveAttributes(
      id,
      { ...image, tags: image.tags.filter((t) => t !== tag) },
      this.now(),
    );
  }

  /** Owner or admin moves an active image to deactivated (its data can no longer be read). */
  async deactivate(caller: Caller, id: string): Promise<void> {
    const image = await this.modifiable(caller, id, 'deactivate');
    if (image.status === 'deactivated') return;
    const ok = await this.deps.images.transition(id, ['active'], 'deactivated', { updated_at: this.now() });
    if (!ok) throw forbidden(`Not allowed to deactivate image in status '${image.status}'`);
  }

  async reactivate(caller: Caller, id: string): Promise<void> {
    const image = await this.modifiable(caller, id, 'reactivate');
    if (image.status === 'active') return;
    const ok = await this.deps.images.transition(id, ['deactivated'], 'active', { updated_at: this.now() });
    if (!ok) throw forbidden(`Not allowed to reactivate image in status '${image.status}'`);
  }

  /**
   * Streams `data` into the data store. The image goes queued → saving → active; when the
   * stream fails, is truncated or too large, the partial data is removed and the image is
   * queued again, so the upload can be retried.
   */
  async upload(caller: Caller, id: string, data: Readable, expectedSize?: number): Promise<Image> {
    const image = await this.modifiable(caller, id, 'upload');
    if (image.status !== 'queued') {
      throw conflict(`Image status transition from ${image.status} to saving is not allowed`);
    }
    if (expectedSize !== undefined && expectedSize > this.deps.limits.sizeCap) {
      throw new AppError(
        'PayloadTooLarge',
        `Image exceeds the storage quota of ${this.deps.limits.sizeCap} bytes.`,
      );
    }
    if (!(await this.deps.images.transition(id, ['queued'], 'saving', { updated_at: this.now() }))) {
      throw conflict(`Image status transition from ${image.status} to saving is not allowed`);
    }
    const header = new HeaderCapture();
    pipeline(data, header, () => undefined);
    let digest;
    try {
      digest = await this.deps.data.put(id, header, expectedSize);
      if (digest.size > this.deps.limits.sizeCap) {
        throw new AppError(
          'PayloadTooLarge',
          `Image exceeds the storage quota of ${this.deps.limits.sizeCap} bytes.`,
        );
      }
    } catch (err) {
      data.destroy();
      await this.removeData(id);
      await this.deps.images.transition(id, ['saving'], 'queued', { updated_at: this.now() });
      if (!isAppError(err) && (data.errored || data.destroyed)) {
        throw invalid('The client closed the connection before all image data arrived.');
      }
      throw err;
    }
    const active = await this.deps.images.transition(id, ['saving'], 'active', {
      size: digest.size,
      virtual_size: virtualSizeOf(image.disk_format, header.header(), digest.size),
      checksum: digest.md5,
      os_hash_algo: 'sha512',
      os_hash_value: digest.sha512,
      updated_at: this.now(),
    });
    if (!active) {
      await this.removeData(id);
      throw notFound(
        `Image ${id} could not be found after upload. The image may have been deleted during the upload.`,
      );
    }
    return this.get(caller, id);
  }

  /** The image's data, whole or the range asked for; `data: null` when it has none yet. */
  async download(caller: Caller, id: string, rangeHeader?: string): Promise<Download> {
    const image = await this.get(caller, id);
    if (image.status === 'deactivated' && !caller.isAdmin) {
      throw forbidden('The requested image has been deactivated. Image data download is forbidden.');
    }
    if ((image.status !== 'active' && image.status !== 'deactivated') || image.size === null) {
      return { image, data: null };
    }
    const range = parseRange(rangeHeader, image.size);
    const data = await this.deps.data.get(id, range ?? undefined);
    return { image, data, range, size: image.size };
  }

  async addMember(caller: Caller, id: string, body: unknown): Promise<ImageMember> {
    const image = await this.get(caller, id);
    if (!canModify(image, caller))
      throw forbidden('You are not permitted to create image members for the image.');
    if (image.visibility !== 'shared') throw forbidden('Only shared images have members.');
    const memberId = (body as { member?: unknown } | null)?.member;
    if (typeof memberId !== 'string' || memberId.length === 0 || memberId.length > 255) {
      throw invalid('Member to be added not specified');
    }
    const members = await this.deps.images.listMembers(id);
    if (members.length >= this.deps.limits.memberQuota) {
      throw new AppError(
        'PayloadTooLarge',
        `Maximum number of image members exceeded (${this.deps.limits.memberQuota}).`,
      );
    }
    const now = this.now();
    const member: ImageMember = {
      image_id: id,
      member_id: memberId,
      status: 'pending',
      created_at: now,
      updated_at: now,
    };
    if (!(await this.deps.images.insertMember(member))) {
      throw conflict(`Member ${memberId} is duplicated for image ${id}`);
    }
    return member;
  }

  async listMembers(caller: Caller, id: string): Promise<ImageMember[]> {
    const image = await this.get(caller, id);
    if (image.visibility !== 'shared') throw forbidden('Only shared images have members.');
    const members = await this.deps.images.listMembers(id);
    return canModify(image, caller) ? members : members.filter((m) => m.member_id === caller.projectId);
  }

  async getMember(caller: Caller, id: string, memberId: string): Promise<ImageMember> {
    const image = await this.get(caller, id);
    const member = await this.deps.images.findMember(id, memberId);
    if (!member || (!canModify(image, caller) && memberId !== caller.projectId)) {
      throw notFound(`Member ${memberId} not found on image ${id}.`);
    }
    return member;
  }

  /** Only the member project itself (or admin) accepts or rejects. */
  async updateMember(caller: Caller, id: string, memberId: string, body: unknown): Promise<ImageMember> {
    const member = await this.getMember(caller, id, memberId);
    if (memberId !== caller.projectId && !caller.isAdmin) {
      throw forbidden('You are not permitted to modify this image member.');
    }
    const status = (body as { status?: unknown } | null)?.status;
    if (typeof status !== 'string' || !(MEMBER_STATUSES as readonly string[]).includes(status)) {
      throw invalid(`Invalid status: ${String(status)}`);
    }
    const updated = { ...member, status: status as MemberStatus, updated_at: this.now() };
    await this.deps.images.updateMember(updated);
    return updated;
  }

  async removeMember(caller: Caller, id: string, memberId: string): Promise<void> {
    const image = await this.get(caller, id);
    await this.getMember(caller, id, memberId);
    if (!canModify(image, caller)) throw forbidden('You are not permitted to delete this image member.');
    await this.deps.images.deleteMember(id, memberId);
  }

  private async findVisible(caller: Caller, id: string): Promise<Image | null> {
    const image = await this.deps.images.findById(id);
    if (!image) return null;
    let membership: MemberStatus | null = null;
    if (image.visibility === 'shared' && !isOwner(image, caller) && !caller.isAdmin) {
      membership = (await this.deps.images.findMember(id, caller.projectId))?.status ?? null;
    }
    return canSee(image, caller, membership) ? image : null;
  }

  private async modifiable(caller: Caller, id: string, action: string): Promise<Image> {
    const image = await this.get(caller, id);
    if (!canModify(image, caller)) throw forbidden(`You are not permitted to ${action} this image.`);
    return image;
  }

  private async removeData(id: string): Promise<void> {
    try {
      await this.deps.data.delete(id);
    } catch (err) {
      this.deps.log.warn({ imageId: id, err }, 'could not remove image data; it is left orphaned');
    }
  }
}
