/**
 * Tokens: JWTs (HS256) signed with the first of a list of keys, each with a key id; the
 * others still verify, so keys rotate without cutting anyone off. Expiry is in the token;
 * revocation (one token by its audit id, or every token of a user issued before a moment) is
 * checked through the cache, and a cache that cannot answer fails closed.
 */
import { createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { z } from 'zod';
import type { Cache } from '@strato/cache';
import { AppError, unauthorized } from '@strato/errors';
import { RevocationEntries } from './revocations';

export interface SigningKey {
  kid: string;
  secret: string;
}

export interface RoleRef {
  id: string;
  name: string;
}

export interface ProjectScope {
  id: string;
  name: string;
  domainId: string;
  domainName: string;
}

/** Who the caller is, as every service sees it after verifying a token. */
export interface TokenClaims {
  userId: string;
  userName: string;
  userDomainId: string;
  userDomainName: string;
  project: ProjectScope | null;
  roles: RoleRef[];
  methods: string[];
  /** audit_ids: this token's own id first, then the first of the chain it was exchanged from, if any. */
  auditIds: string[];
  issuedAt: Date;
  expiresAt: Date;
}

const payloadSchema = z.object({
  sub: z.string(),
  un: z.string(),
  ud: z.tuple([z.string(), z.string()]),
  p: z.tuple([z.string(), z.string(), z.string(), z.string()]).nullable(),
  r: z.array(z.tuple([z.string(), z.string()])),
  m: z.array(z.string()),
  a: z.array(z.string()).min(1),
  iatms: z.number(),
  exp: z.number(),
});

/** Parses "kid1:secret1,kid2:secret2"; the first key signs. Secrets need 32+ characters. */
export function parseSigningKeys(spec: string): SigningKey[] {
  const keys = spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const at = entry.indexOf(':');
      if (at <= 0) throw new Error('each signing key must be written kid:secret');
      return { kid: entry.slice(0, at), secret: entry.slice(at + 1) };
    });
  if (keys.length === 0) throw new Error('at least one signing key is required');
  for (const k of keys)
    if (k.secret.length < 32) throw new Error(`signing key ${k.kid} is shorter than 32 characters`);
  return keys;
}

/** 22 characters of URL-safe base64, like Keystone's audit ids. */
export function newAuditId(): string {
  return randomBytes(16).toString('base64url');
}

export interface TokenServiceDeps {
  keys: readonly SigningKey[];
  cache: Cache;
  ttlSeconds: number;
  now?: () => number;
}

export type NewToken = Omit<TokenClaims, 'issuedAt' | 'expiresAt' | 'auditIds'> & {
  /** Keeps an exchanged token's expiry and audit chain (the "token" auth method). */
  parent?: Pick<TokenClaims, 'expiresAt' | 'auditIds'>;
};

/** How many verified tokens a process remembers (oldest forgotten first). */
const VERIFIED_CACHE_SIZE = 1024;

export class TokenService {
  /** Secrets as KeyObjects, made once: jsonwebtoken would otherwise rebuild one per call. */
  private readonly byKid: Map<string, KeyObject>;
  /**
   * Tokens whose signature and claims were checked, by their exact text (a client sends the
   * same token on every call): a hit skips the HMAC and the parse, never the expiry or the
   * revocation check. Frozen, since every caller of that token shares the object.
   */
  private readonly verified = new Map<string, TokenClaims>();
  private readonly now: () => number;
  /** Revocation entries, read through the cache and kept while its notices flow. */
  private readonly revocations: RevocationEntries;

  constructor(private readonly deps: TokenServiceDeps) {
    if (deps.keys.length === 0) throw new Error('TokenService needs a signing key');
    this.byKid = new Map(deps.keys.map((k) => [k.kid, createSecretKey(Buffer.from(k.secret, 'utf8'))]));
    this.now = deps.now ?? Date.now;
    this.revocations = new RevocationEntries(deps.cache, Date.now);
  }

  issue(input: NewToken): { token: string; claims: TokenClaims } {
    const issuedMs = this.now();
    const expiresMs = input.parent
      ? input.parent.expiresAt.getTime()
      : Math.floor(issuedMs / 1000 + this.deps.ttlSeconds) * 1000;
    // Keystone's audit chain: an exchanged token names the first token of its chain, so that
    // revoking that one ends every token exchanged from it, however many steps away.
    const auditIds = [newAuditId(), ...(input.parent ? input.parent.auditIds.slice(-1) : [])];
    const kid = this.deps.keys[0]!.kid;
    const p = input.project;
    const payload: z.infer<typeof payloadSchema> = {
      sub: input.userId,
      un: input.userName,
      ud: [input.userDomainId, input.userDomainName],
      p: p ? [p.id, p.name, p.domainId, p.domainName] : null,
      r: input.roles.map((r) => [r.id, r.name]),
      m: input.methods,
      a: auditIds,
      iatms: issuedMs,
      exp: Math.floor(expiresMs / 1000),
    };
    const token = jwt.sign(payload, this.byKid.get(kid)!, {
      algorithm: 'HS256',
      keyid: kid,
      noTimestamp: true,
    });
    return { token, claims: this.toClaims(payload) };
  }

  /** Verifies signature, expiry and revocation; any failure is 401 (503 if the cache is down). */
  async verify(token: string): Promise<TokenClaims> {
    const claims = this.decode(token);
    await this.assertNotRevoked(claims);
    return claims;
  }

  /** Signature and expiry only (no revocation lookup). */
  decode(token: string): TokenClaims {
    const known = this.verified.get(token);
    if (known && Math.floor(this.now() / 1000) < known.expiresAt.getTime() / 1000) return known;
    if (known) this.verified.delete(token);
    const claims = this.decodeUncached(token);
    if (this.verified.size >= VERIFIED_CACHE_SIZE) {
      this.verified.delete(this.verified.keys().next().value!);
    }
    this.verified.set(token, claims);
    return claims;
  }

  private decodeUncached(token: string): TokenClaims {
    const failed = () => new AppError('NotFound', 'The token is invalid or has expired.');
    if (token.length > 8192) throw unauthorized();
    const header = jwt.decode(token, { complete: true })?.header;
    const key = header?.kid ? this.byKid.get(header.kid) : undefined;
    if (!header || header.alg !== 'HS256' || !key) throw toUnauthorized(failed());
    let raw: unknown;
    try {
      raw = jwt.verify(token, key, {
        algorithms: ['HS256'],
        clockTimestamp: Math.floor(this.now() / 1000),
      });
    } catch {
      throw toUnauthorized(failed());
    }
    const parsed = payloadSchema.safeParse(raw);
    if (!parsed.success) throw toUnauthorized(failed());
    return this.toClaims(parsed.data);
  }

  async revoke(claims: TokenClaims): Promise<void> {
    const ttl = Math.max(1, Math.ceil((claims.expiresAt.getTime() - this.now()) / 1000));
    await this.revocations.write(`revoked:token:${claims.auditIds[0]}`, '1', ttl);
  }

  /** Revokes every token of a user issued up to now (disable, delete, password change). */
  async revokeUser(userId: string): Promise<void> {
    await this.revocations.write(`revoked:user:${userId}`, String(this.now()), this.deps.ttlSeconds + 60);
  }

  private async assertNotRevoked(claims: TokenClaims): Promise<void> {
    // This token, its user, and the token it was exchanged from: kept, or one round trip.
    const keys = [`revoked:token:${claims.auditIds[0]}`, `revoked:user:${claims.userId}`];
    if (claims.auditIds[1]) keys.push(`revoked:token:${claims.auditIds[1]}`);
    const [byToken, byUser, byChain] = await this.revocations.read(keys);
    if (byToken || byChain || (byUser && Number(byUser) >= claims.issuedAt.getTime())) {
      throw unauthorized('The token is invalid or has expired.');
    }
  }

  private toClaims(p: z.infer<typeof payloadSchema>): TokenClaims {
    const roles = Object.freeze(p.r.map(([id, name]) => Object.freeze({ id, name })));
    return Object.freeze({
      userId: p.sub,
      userName: p.un,
      userDomainId: p.ud[0],
      userDomainName: p.ud[1],
      project: p.p ? { id: p.p[0], name: p.p[1], domainId: p.p[2], domainName: p.p[3] } : null,
      roles: roles as RoleRef[],
      methods: Object.freeze(p.m) as string[],
      auditIds: Object.freeze(p.a) as string[],
      issuedAt: new Date(p.iatms),
      expiresAt: new Date(p.exp * 1000),
    });
  }
}

function toUnauthorized(err: AppError): AppError {
  return unauthorized(err.message);
}
