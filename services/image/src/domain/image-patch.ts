/**
 * Glance's JSON patch (application/openstack-images-v2.1-json-patch): a list of add, replace
 * and remove operations on top-level paths. Base attributes can be set but never removed,
 * properties are created by add, changed by add or replace, deleted by remove.
 */
import { AppError, conflict, invalid } from '@strato/errors';
import {
  READ_ONLY_ATTRIBUTES,
  isReserved,
  cloneAttributes,
  setAttribute,
  type ImageAttributes,
} from './image';

export const PATCH_MEDIA_TYPE = 'application/openstack-images-v2.1-json-patch';

export type PatchOperation =
  { op: 'add' | 'replace'; name: string; value: unknown } | { op: 'remove'; name: string };

/** The attributes with their own column, which a patch may set but not remove. */
const SETTABLE_BASE = new Set([
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
]);

/** Decodes a one-level JSON pointer ("/a~1b" is the property "a/b"). */
export function decodePointer(path: unknown): string {
  if (typeof path !== 'string' || !path.startsWith('/') || path.length < 2) {
    throw invalid("Json path should start with a '/', end with no '/', no 2 subsequent '/' are allowed.");
  }
  const parts = path.slice(1).split('/');
  if (parts.length !== 1) throw invalid(`Invalid JSON pointer for this resource: '${path}'`);
  const raw = parts[0]!;
  if (/~(?![01])/.test(raw)) {
    throw invalid(`Pointer \`${path}\` contains "~" not part of a recognized escape sequence.`);
  }
  return raw.replace(/~1/g, '/').replace(/~0/g, '~');
}

/** Checks the shape of a patch document; a read-only or reserved path is a 403. */
export function parsePatch(body: unknown): PatchOperation[] {
  if (!Array.isArray(body)) throw invalid('Request body must be a JSON array of operation objects.');
  return body.map((item: unknown): PatchOperation => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      throw invalid('Operations must be JSON objects.');
    }
    const change = item as Record<string, unknown>;
    const op = change.op;
    if (op !== 'add' && op !== 'replace' && op !== 'remove') {
      throw invalid(
        'Unable to find `op` in JSON Schema change. It must be one of the following: add, remove, replace.',
      );
    }
    if (!('path' in change)) throw invalid('Unable to find `path` in JSON Schema change.');
    const name = decodePointer(change.path);
    if (isReserved(name)) throw new AppError('Forbidden', `Attribute '${name}' is reserved.`);
    if (READ_ONLY_ATTRIBUTES.has(name)) throw new AppError('Forbidden', `Attribute '${name}' is read-only.`);
    if (op === 'remove') return { op, name };
    if (!('value' in change)) {
      throw invalid(
        `Unable to find \`value\` in JSON Schema change. A \`value\` is required for \`${op}\` operations.`,
      );
    }
    return { op, name, value: change.value };
  });
}

/** Applies the operations in order to a copy of the attributes; the input is left untouched. */
export function applyPatch(current: ImageAttributes, operations: readonly PatchOperation[]): ImageAttributes {
  const next = cloneAttributes(current);
  for (const change of operations) {
    const { name } = change;
    const isBase = SETTABLE_BASE.has(name);
    const exists = isBase || Object.hasOwn(next.properties, name);
    switch (change.op) {
      case 'add':
        setAttribute(next, name, change.value);
        break;
      case 'replace':
        if (!exists) throw conflict(`Property ${name} does not exist.`);
        setAttribute(next, name, change.value);
        break;
      case 'remove':
        if (isBase) throw new AppError('Forbidden', `Property ${name} may not be removed.`);
        if (!exists) throw conflict(`Property ${name} does not exist.`);
        delete next.properties[name];
        break;
    }
  }
  return next;
}
