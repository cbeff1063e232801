/** What the image domain needs from storage: the image catalogue and its members. */
import type { Image, ImageAttributes, ImageFacts, ImageMember, ImageStatus } from './image';
import type { Caller } from './image-policy';
import type { ListCriteria } from './image-query';

export interface ImageRepository {
  /** Adds a new image; false when one with its id exists. */
  insert(image: Image): Promise<boolean>;
  findById(id: string): Promise<Image | null>;
  /** Writes the client-settable attributes (tags and properties included); false if gone. */
  saveAttributes(id: string, attrs: ImageAttributes, updatedAt: Date): Promise<boolean>;
  /**
   * Moves the image to `to` and sets `facts`, only if its status is one of `from`; false
   * when it was not (or the image is gone). This is the one way status changes.
   */
  transition(
    id: string,
    from: readonly ImageStatus[],
    to: ImageStatus,
    facts: Partial<Omit<ImageFacts, 'id' | 'status' | 'created_at'>>,
  ): Promise<boolean>;
  /** Removes the image with its tags, properties and members; false if it was not there. */
  delete(id: string): Promise<boolean>;
  /**
   * One page of the images `viewer` may list, in criteria.sort order, starting after the
   * image `after` (the marker, already checked to be visible).
   */
  list(criteria: ListCriteria, viewer: Caller, after: Image | null): Promise<Image[]>;

  findMember(imageId: string, memberId: string): Promise<ImageMember | null>;
  listMembers(imageId: string): Promise<ImageMember[]>;
  /** Adds a member; false when that project already is one. */
  insertMember(member: ImageMember): Promise<boolean>;
  updateMember(member: ImageMember): Promise<boolean>;
  deleteMember(imageId: string, memberId: string): Promise<boolean>;
}
