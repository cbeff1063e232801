/**
 * Per-request plumbing of the compute API: microversion negotiation (answered in both headers,
 * with Vary), the caller from the verified token, links, and body validation that turns zod
 * issues into Nova-style 400s.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { z } from 'zod';
import { isAdmin, requireProject } from '@strato/auth';
import { invalid } from '@strato/errors';
import type { Caller } from '../domain/caller';
import type { ProjectDirectory } from '../domain/ports';
import { ApiVersion, MIN_VERSION, negotiateVersion, VersionNotAcceptable } from '../domain/microversion';

declare module 'express-serve-static-core' {
  interface Request {
    computeVersion?: ApiVersion;
  }
}

/** Negotiates the microversion and answers it; a version out of range is Nova's 406. */
export function microversion(): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    let version: ApiVersion;
    try {
      version = negotiateVersion({
        openstack: req.header('openstack-api-version'),
        legacy: req.header('x-openstack-nova-api-version'),
      });
    } catch (err) {
      if (err instanceof VersionNotAcceptable) {
        res.status(406).json({ computeFault: { code: 406, message: err.message } });
        return;
      }
      next(err);
      return;
    }
    req.computeVersion = version;
    res.setHeader('OpenStack-API-Version', `compute ${version.toString()}`);
    res.setHeader('X-OpenStack-Nova-API-Version', version.toString());
    res.setHeader('Vary', 'OpenStack-API-Version, X-OpenStack-Nova-API-Version');
    next();
  };
}

export function versionOf(req: Request): ApiVersion {
  return req.computeVersion ?? MIN_VERSION;
}

export function callerOf(req: Request): Caller {
  const claims = requireProject(req);
  return {
    userId: claims.userId,
    projectId: claims.project.id,
    admin: isAdmin(claims),
    token: req.header('x-auth-token') ?? '',
  };
}

export interface Link {
  rel: string;
  href: string;
  type?: string;
}

/** Links as Nova writes them: self under the versioned URL, bookmark under the root. */
export class Urls {
  readonly versioned: string;
  readonly root: string;

  constructor(publicUrl: string) {
    this.versioned = publicUrl.replace(/\/+$/, '');
    this.root = this.versioned.replace(/\/v2(\.1)?$/, '');
  }

  links(collection: string, id: string): Link[] {
    return [
      { rel: 'self', href: `${this.versioned}/${collection}/${id}` },
      { rel: 'bookmark', href: `${this.root}/${collection}/${id}` },
    ];
  }

  bookmark(collection: string, id: string): Link[] {
    return [{ rel: 'bookmark', href: `${this.root}/${collection}/${id}` }];
  }

  next(collection: string, query: Record<string, string>, limit: number, marker: string): Link {
    const params = new URLSearchParams({ ...query, limit: String(limit), marker });
    return { rel: 'next', href: `${this.versioned}/${collection}?${params.toString()}` };
  }

  /**
   * Nova's `<collection>_links`: a next link whenever a page came back full, the default
   * limit (1000) included, so that clients that follow links see every item; else none.
   */
  pageLinks(
    collection: string,
    query: Record<string, string>,
    count: number,
    limit: number,
    lastId: () => string,
  ): Link[] | null {
    return count > 0 && count === limit ? [this.next(collection, query, limit, lastId())] : null;
  }
}

/** Fields whose values a fault (and so the log) never repeats: passwords and user data. */
const SECRET_FIELDS: ReadonlySet<string> = new Set(['adminPass', 'user_data', 'password']);

/**
 * A value as a fault shows it: a string of over 64 characters cut there, anything else as JSON
 * (cut the same way); a secret field's value never.
 */
function shownValue(field: string, value: unknown): string {
  if (SECRET_FIELDS.has(field)) return '<hidden>';
  if (typeof value === 'string' && value.length > 64) return `${value.slice(0, 64)}...`;
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    return '<unprintable>'; // nested too deep to print
  }
  return text.length > 64 ? `${text.slice(0, 64)}...` : text;
}

function describeIssue(issue: z.core.$ZodIssue, body: unknown): string {
  const path = issue.path.map(String);
  let value: unknown = body;
  for (const key of path) value = (value as Record<string, unknown> | undefined)?.[key];
  const field = path.length > 0 ? path[path.length - 1]! : 'body';
  return `Invalid input for field/attribute ${field}. Value: ${shownValue(field, value)}. ${issue.message}`;
}

/** Validates a request body; the first problem becomes a 400 badRequest. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw invalid(first ? describeIssue(first, body) : 'Invalid request body.');
  }
  return parsed.data;
}

/**
 * Nova's printable characters: of the Basic Multilingual Plane (Nova's table of them stops at
 * U+FFFE), not control, format, surrogate, private-use or unassigned (\p{C}), and no line or
 * paragraph separator.
 */
const UNPRINTABLE = /[\p{C}\p{Zl}\p{Zp}\u{10000}-\u{10FFFF}]/u;

/** Nova's name: 1-255 printable characters, not only spaces, no leading or trailing space. */
export const nameField = z
  .string()
  .min(1)
  .max(255)
  .refine((s) => s.trim().length > 0 && s.trim() === s, 'has leading or trailing whitespace or is blank')
  .refine((s) => !UNPRINTABLE.test(s), 'contains characters that are not printable');

/** Nova's description: up to 255 printable characters (spaces anywhere), or null. */
export const descriptionField = z
  .string()
  .max(255)
  .refine((s) => !UNPRINTABLE.test(s), 'contains characters that are not printable')
  .nullable();

/** Nova's metadata key: 1-255 of letters, digits, '-', '_', ':', '.' and space. */
const METADATA_KEY = /^[a-zA-Z0-9-_:. ]{1,255}$/;

/**
 * A map of Nova's metadata keys to values (server metadata, image metadata of createImage,
 * flavor extra_specs): a key outside METADATA_KEY is refused as Nova's schema does, and the
 * result holds every key as its own property, so `__proto__` or `constructor` are keys like
 * any other, never the object's prototype or its methods.
 */
export function keyMap<V extends z.ZodType>(value: V): z.ZodType<Record<string, z.output<V>>> {
  return z
    .custom<Record<string, unknown>>(
      (v) => typeof v === 'object' && v !== null && !Array.isArray(v),
      'is not of type object',
    )
    .transform((v, ctx) => {
      const out: Record<string, z.output<V>> = {};
      for (const [k, raw] of Object.entries(v)) {
        if (!METADATA_KEY.test(k)) {
          ctx.addIssue({
            code: 'custom',
            message: `Additional properties are not allowed ('${k}' was unexpected)`,
          });
          return z.NEVER;
        }
        const parsed = value.safeParse(raw);
        if (!parsed.success) {
          ctx.addIssue({
            code: 'custom',
            message: parsed.error.issues[0]?.message ?? 'is not valid',
            path: [k],
          });
          return z.NEVER;
        }
        Object.defineProperty(out, k, {
          value: parsed.data,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    });
}

export const metadataField = keyMap(z.string().max(255));

/** Whether a map (metadata, extra specs) holds the key itself, not through its prototype. */
export function hasKey(map: Readonly<Record<string, unknown>>, key: string): boolean {
  return Object.hasOwn(map, key);
}

/** A query parameter as one string (the last one when repeated). */
export function queryParam(req: Request, key: string): string | null {
  const value = (req.query as Record<string, unknown>)[key];
  if (Array.isArray(value)) {
    const last: unknown = value[value.length - 1];
    return typeof last === 'string' ? last : null;
  }
  return typeof value === 'string' ? value : null;
}

/** Nova's answer for a project id identity does not know (identity.verify_project_id). */
export async function requireKnownProject(projects: ProjectDirectory, projectId: string): Promise<void> {
  if (!(await projects.exists(projectId))) throw invalid(`Project ID ${projectId} is not a valid project.`);
}
