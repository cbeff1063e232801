/**
 * Who may see and change an image (Glance's visibility rules). A project sees its own
 * images, public and community ones, and shared ones it is a member of (any member status:
 * the status only decides whether the image shows up in its default list). Admin sees all.
 */
import { AppError } from '@strato/errors';
import type { Image, ImageAttributes, MemberStatus } from './image';

export interface Caller {
  projectId: string;
  isAdmin: boolean;
}

/** The caller's membership of an image, when the caller is a member. */
export type Membership = MemberStatus | null;

export function isOwner(image: Pick<Image, 'owner'>, caller: Caller): boolean {
  return image.owner !== null && image.owner === caller.projectId;
}

export function canSee(
  image: Pick<Image, 'owner' | 'visibility'>,
  caller: Caller,
  membership: Membership,
): boolean {
  if (caller.isAdmin || isOwner(image, caller)) return true;
  switch (image.visibility) {
    case 'public':
    case 'community':
      return true;
    case 'shared':
      return membership !== null;
    case 'private':
      return false;
  }
}

/** Changing, deleting, uploading and managing members: the owner or admin. */
export function canModify(image: Pick<Image, 'owner'>, caller: Caller): boolean {
  return caller.isAdmin || isOwner(image, caller);
}

/**
 * Rules on the attributes an owner sets: only admin publishes an image or hands it to
 * another project.
 */
export function checkAttributeChange(
  before: ImageAttributes | null,
  after: ImageAttributes,
  caller: Caller,
): void {
  if (caller.isAdmin) return;
  if (after.visibility === 'public' && before?.visibility !== 'public') {
    throw new AppError('Forbidden', 'You are not authorized to complete publicize_image action.');
  }
  const ownerBefore = before ? before.owner : caller.projectId;
  if (after.owner !== ownerBefore) {
    throw new AppError('Forbidden', 'You are not permitted to modify the owner of this image.');
  }
}
