import { MemoryCache } from '@strato/cache';
import { ServiceToken } from './service-token';
import { TokenService, parseSigningKeys } from './tokens';

describe('ServiceToken', () => {
  it('is a valid admin token of the service project, reused until a minute before it expires', async () => {
    let now = Date.now();
    const tokens = new TokenService({
      keys: parseSigningKeys(`k1:${'s'.repeat(40)}`),
      cache: new MemoryCache(() => now),
      ttlSeconds: 600,
      now: () => now,
    });
    const own = new ServiceToken({
      tokens,
      projectId: 'svc',
      userId: 'compute-agent@n1',
      userName: 'nova',
      now: () => now,
    });
    const first = own.get();
    const claims = await tokens.verify(first);
    expect(claims).toMatchObject({ userId: 'compute-agent@n1', project: { id: 'svc' } });
    expect(claims.roles.map((r) => r.name)).toEqual(['admin']);

    now += 500_000; // 100 s left: still this one
    expect(own.get()).toBe(first);
    now += 50_000; // 50 s left: renewed
    const second = own.get();
    expect(second).not.toBe(first);
    expect((await tokens.verify(second)).userId).toBe('compute-agent@n1');
  });
});
