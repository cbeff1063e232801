import type { TokenClaims } from '@strato/auth';
import { VerifiedTokenCache } from './token-cache';

const claims = (expiresAt: number) => ({ userId: 'u', expiresAt: new Date(expiresAt) }) as TokenClaims;

describe('VerifiedTokenCache', () => {
  it('verifies a token once within the ttl, again after it, and never past the token expiry', async () => {
    let now = 1_000_000;
    let calls = 0;
    const cache = new VerifiedTokenCache(
      {
        verify: async () => {
          calls++;
          return claims(1_000_000 + 15_000);
        },
      },
      10_000,
      () => now,
    );
    await cache.verify('t');
    await cache.verify('t');
    expect(calls).toBe(1);
    now += 10_001;
    await cache.verify('t');
    expect(calls).toBe(2);
    now += 5_000;
    await cache.verify('t');
    expect(calls).toBe(3);
  });

  it('does not remember failures', async () => {
    let calls = 0;
    const cache = new VerifiedTokenCache(
      {
        verify: async () => {
          calls++;
          throw new Error('invalid');
        },
      },
      10_000,
    );
    await expect(cache.verify('bad')).rejects.toThrow('invalid');
    await expect(cache.verify('bad')).rejects.toThrow('invalid');
    expect(calls).toBe(2);
  });
});
