/** The Range header of a download: one byte range, as Glance serves it. */
import { AppError } from '@strato/errors';
import type { ByteRange } from './image-data';

/**
 * The range `header` asks of an object of `size` bytes: null to send the whole object (no
 * header, or one we do not serve, which HTTP lets us ignore); RangeNotSatisfiable when the
 * range starts past the end.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | null {
  if (header === undefined) return null;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return null;
  const [, from = '', to = ''] = m;
  if (from === '' && to === '') return null;
  if (from === '') {
    const suffix = Number(to);
    if (suffix === 0 || size === 0) throw notSatisfiable(size);
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(from);
  const end = to === '' ? size - 1 : Math.min(Number(to), size - 1);
  if (to !== '' && Number(to) < start) return null;
  if (start >= size) throw notSatisfiable(size);
  return { start, end };
}

export class RangeNotSatisfiable extends AppError {
  constructor(readonly size: number) {
    super('RangeNotSatisfiable', 'Requested range not satisfiable');
  }
}

function notSatisfiable(size: number): RangeNotSatisfiable {
  return new RangeNotSatisfiable(size);
}
