/**
 * Revocation across processes on Redis: each TokenService has its own connections, as each
 * service process does. A token checked (and its entries kept) by one is refused by it as soon
 * as another has revoked it, with no wait in between.
 */
import { randomUUID } from 'node:crypto';
import { RedisCache } from '@strato/cache';
import { createLogger } from '@strato/log';
import { TokenService, parseSigningKeys } from '../src';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const log = createLogger('test', { level: 'silent' });
const keys = parseSigningKeys(`k1:${'s'.repeat(40)}`);

describe('token revocation between processes (Redis)', () => {
  const caches: RedisCache[] = [];
  const service = () => {
    const cache = new RedisCache(url, log);
    caches.push(cache);
    return new TokenService({ keys, cache, ttlSeconds: 600 });
  };
  afterAll(async () => {
    for (const c of caches) await c.close();
  });

  it('refuses a token at once in every process after another revoked it or its user', async () => {
    const [identity, compute] = [service(), service()];
    const user = () => ({
      userId: `u-${randomUUID()}`,
      userName: 'u',
      userDomainId: 'default',
      userDomainName: 'Default',
      project: null,
      roles: [],
      methods: ['password'],
    });
    for (let i = 0; i < 40; i++) {
      const { token, claims } = identity.issue(user());
      for (let j = 0; j < 3; j++) await compute.verify(token); // read once, then kept
      if (i % 2 === 0) await identity.revoke(claims);
      else await identity.revokeUser(claims.userId);
      // The revoking request answers its client, which sends the next request: the least time
      // that can pass before another process checks the token again.
      await new Promise((r) => setTimeout(r, 1));
      await expect(compute.verify(token)).rejects.toMatchObject({ kind: 'Unauthorized' });
    }
  });
});
