import { cloneAttributes, newImage, type Image, type Visibility } from './image';
import { canModify, canSee, checkAttributeChange, type Caller } from './image-policy';

const owner: Caller = { projectId: 'owner', isAdmin: false };
const other: Caller = { projectId: 'other', isAdmin: false };
const admin: Caller = { projectId: 'ops', isAdmin: true };
const limits = { tagQuota: 128, propertyQuota: 128 };
const image = (visibility: Visibility): Image =>
  newImage({ visibility }, { owner: 'owner', now: new Date(0) }, limits);
function kindOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { kind?: string }).kind;
  }
  return undefined;
}

describe('image visibility rules', () => {
  it('shows private images to their owner and admin only', () => {
    expect(canSee(image('private'), owner, null)).toBe(true);
    expect(canSee(image('private'), admin, null)).toBe(true);
    expect(canSee(image('private'), other, null)).toBe(false);
  });

  it('shows public and community images to everyone', () => {
    expect(canSee(image('public'), other, null)).toBe(true);
    expect(canSee(image('community'), other, null)).toBe(true);
  });

  it('shows shared images to members whatever their status, and to no one else', () => {
    expect(canSee(image('shared'), other, null)).toBe(false);
    expect(canSee(image('shared'), other, 'pending')).toBe(true);
    expect(canSee(image('shared'), other, 'rejected')).toBe(true);
  });

  it('lets only the owner and admin change an image', () => {
    expect(canModify(image('public'), owner)).toBe(true);
    expect(canModify(image('public'), admin)).toBe(true);
    expect(canModify(image('public'), other)).toBe(false);
  });

  it('lets only admin publish an image or change its owner', () => {
    const before = image('private');
    const published = { ...cloneAttributes(before), visibility: 'public' as const };
    expect(kindOf(() => checkAttributeChange(before, published, owner))).toBe('Forbidden');
    expect(kindOf(() => checkAttributeChange(null, published, owner))).toBe('Forbidden');
    expect(() => checkAttributeChange(before, published, admin)).not.toThrow();
    const given = { ...cloneAttributes(before), owner: 'other' };
    expect(kindOf(() => checkAttributeChange(before, given, owner))).toBe('Forbidden');
    const community = { ...cloneAttributes(before), visibility: 'community' as const };
    expect(() => checkAttributeChange(before, community, owner)).not.toThrow();
  });
});
