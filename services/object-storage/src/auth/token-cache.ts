/**
 * Remembers verified tokens briefly, as keystonemiddleware's auth_token does (there for 300 s):
 * verifying a JWT and three revocation lookups per request is most of a small GET's cost. A
 * revoked token stops working within `ttlMs`; an expired one at its expiry.
 */
import type { TokenClaims, TokenService } from '@strato/auth';

export class VerifiedTokenCache {
  private readonly entries = new Map<string, { claims: TokenClaims; until: number }>();

  constructor(
    private readonly tokens: Pick<TokenService, 'verify'>,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
    private readonly maxEntries = 10_000,
  ) {}

  async verify(token: string): Promise<TokenClaims> {
    const t = this.now();
    const hit = this.entries.get(token);
    if (hit && hit.until > t) return hit.claims;
    const claims = await this.tokens.verify(token);
    if (this.ttlMs > 0) {
      if (this.entries.size >= this.maxEntries) this.entries.clear();
      this.entries.set(token, { claims, until: Math.min(t + this.ttlMs, claims.expiresAt.getTime()) });
    }
    return claims;
  }
}
