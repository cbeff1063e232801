/**
 * Nova microversions: `OpenStack-API-Version: compute X.Y` (preferred) or
 * `X-OpenStack-Nova-API-Version: X.Y`, 'latest' meaning the maximum. A request without either
 * gets the minimum (2.1). A malformed version is a 400; one outside [min, max] is a 406.
 */
import { invalid } from '@strato/errors';

export class ApiVersion {
  constructor(
    readonly major: number,
    readonly minor: number,
  ) {}

  /** True when this version is at least 2.<minor> (every version Strato speaks is 2.x). */
  atLeast(minor: number): boolean {
    return this.major > 2 || (this.major === 2 && this.minor >= minor);
  }

  compare(other: ApiVersion): number {
    return this.major - other.major || this.minor - other.minor;
  }

  toString(): string {
    return `${this.major}.${this.minor}`;
  }
}

export const MIN_VERSION = new ApiVersion(2, 1);
/** The highest microversion served; behaviour up to it is documented in docs/compute-api.md. */
export const MAX_VERSION = new ApiVersion(2, 93);

/** Thrown for a version outside [min, max]: HTTP 406, which has no error kind of its own. */
export class VersionNotAcceptable extends Error {
  constructor(readonly requested: string) {
    super(
      `Version ${requested} is not supported by the API. Minimum is ${MIN_VERSION.toString()} ` +
        `and maximum is ${MAX_VERSION.toString()}.`,
    );
    this.name = 'VersionNotAcceptable';
  }
}

function parseOne(text: string): ApiVersion {
  const value = text.trim();
  if (value.toLowerCase() === 'latest') return MAX_VERSION;
  const m = /^([1-9]\d{0,3})\.(0|[1-9]\d{0,3})$/.exec(value);
  if (!m) {
    throw invalid(`API Version String ${value} is of invalid format. Must be of format MajorNum.MinorNum.`);
  }
  const version = new ApiVersion(Number(m[1]), Number(m[2]));
  if (version.compare(MIN_VERSION) < 0 || version.compare(MAX_VERSION) > 0) {
    throw new VersionNotAcceptable(version.toString());
  }
  return version;
}

/** The compute entry of an OpenStack-API-Version header ("compute 2.61, image 2.5"), if any. */
function computeEntry(header: string): string | undefined {
  for (const part of header.split(',')) {
    const [service, ...rest] = part.trim().split(/\s+/);
    if (service?.toLowerCase() === 'compute') return rest.join(' ');
  }
  return undefined;
}

/** Negotiates the version from the two headers (values as express gives them, or undefined). */
export function negotiateVersion(headers: {
  openstack: string | undefined;
  legacy: string | undefined;
}): ApiVersion {
  const fromNew = headers.openstack !== undefined ? computeEntry(headers.openstack) : undefined;
  if (fromNew !== undefined) return parseOne(fromNew);
  if (headers.legacy !== undefined && headers.legacy.trim() !== '') return parseOne(headers.legacy);
  return MIN_VERSION;
}

export function isVersionNotAcceptable(err: unknown): err is VersionNotAcceptable {
  return err instanceof VersionNotAcceptable;
}
