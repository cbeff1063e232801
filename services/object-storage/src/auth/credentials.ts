/**
 * S3 access keys. Identity (the api service) owns EC2 credentials; object storage only needs
 * to turn an access key into its secret and the user, project and roles it acts for.
 */
import { z } from 'zod';
import type { Bus } from '@strato/bus';
import { isAppError } from '@strato/errors';

export interface S3Credential {
  accessKey: string;
  secret: string;
  userId: string;
  projectId: string;
  roles: string[];
}

export interface CredentialResolver {
  /** The credential of an access key, or null when no such key exists. */
  lookup(accessKey: string): Promise<S3Credential | null>;
}

/** A fixed set of keys (tests, the all-in-one's bootstrap). */
export class StaticCredentialResolver implements CredentialResolver {
  private readonly byKey: Map<string, S3Credential>;

  constructor(credentials: readonly S3Credential[]) {
    this.byKey = new Map(credentials.map((c) => [c.accessKey, c]));
  }

  async lookup(accessKey: string): Promise<S3Credential | null> {
    return this.byKey.get(accessKey) ?? null;
  }
}

/**
 * The identity service's RPC `identity.ec2_lookup` (version 1):
 *   request  { access: string }
 *   response { found: false } | { found: true, secret, user_id, project_id, roles: string[] }
 */
export const EC2_LOOKUP_TARGET = 'identity.ec2_lookup';
export const EC2_LOOKUP_VERSION = 1;

export const ec2LookupRequestSchema = z.object({ access: z.string().min(1).max(255) });
export const ec2LookupResponseSchema = z.union([
  z.object({ found: z.literal(false) }),
  z.object({
    found: z.literal(true),
    secret: z.string().min(1),
    user_id: z.string().min(1),
    project_id: z.string().min(1),
    roles: z.array(z.string()),
  }),
]);

export class BusCredentialResolver implements CredentialResolver {
  constructor(
    private readonly bus: Pick<Bus, 'call'>,
    private readonly timeoutMs = 5000,
  ) {}

  async lookup(accessKey: string): Promise<S3Credential | null> {
    const reply = await this.bus.call<
      z.infer<typeof ec2LookupRequestSchema>,
      z.infer<typeof ec2LookupResponseSchema>
    >(
      EC2_LOOKUP_TARGET,
      { type: EC2_LOOKUP_TARGET, version: EC2_LOOKUP_VERSION, payload: { access: accessKey } },
      { timeoutMs: this.timeoutMs, schema: ec2LookupResponseSchema },
    );
    if (!reply.found) return null;
    return {
      accessKey,
      secret: reply.secret,
      userId: reply.user_id,
      projectId: reply.project_id,
      roles: reply.roles,
    };
  }
}

/** Remembers successful lookups for a short time (a revoked key stops working within ttl). */
export class CachingCredentialResolver implements CredentialResolver {
  private readonly cache = new Map<string, { value: S3Credential; expires: number }>();

  constructor(
    private readonly inner: CredentialResolver,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
    private readonly maxEntries = 10_000,
  ) {}

  async lookup(accessKey: string): Promise<S3Credential | null> {
    const hit = this.cache.get(accessKey);
    if (hit && hit.expires > this.now()) return hit.value;
    let value: S3Credential | null;
    try {
      value = await this.inner.lookup(accessKey);
    } catch (err) {
      if (isAppError(err) && err.kind === 'NotFound') value = null;
      else throw err;
    }
    if (value && this.ttlMs > 0) {
      if (this.cache.size >= this.maxEntries) this.cache.clear();
      this.cache.set(accessKey, { value, expires: this.now() + this.ttlMs });
    } else {
      this.cache.delete(accessKey);
    }
    return value;
  }
}
