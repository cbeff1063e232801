import jwt from 'jsonwebtoken';
import { MemoryCache } from '@strato/cache';
import { TokenService, parseSigningKeys, type NewToken } from './tokens';
import { hashPassword, verifyPassword } from './passwords';

const secretA = 'a'.repeat(40);
const secretB = 'b'.repeat(40);
const input: NewToken = {
  userId: 'u1',
  userName: 'alice',
  userDomainId: 'default',
  userDomainName: 'Default',
  project: { id: 'p1', name: 'demo', domainId: 'default', domainName: 'Default' },
  roles: [{ id: 'r1', name: 'member' }],
  methods: ['password'],
};

function service(keys = `k1:${secretA}`, now = () => Date.now()) {
  return new TokenService({
    keys: parseSigningKeys(keys),
    cache: new MemoryCache(now),
    ttlSeconds: 3600,
    now,
  });
}

describe('TokenService', () => {
  it('issues a token that verifies to the same claims', async () => {
    const tokens = service();
    const { token, claims } = tokens.issue(input);
    const back = await tokens.verify(token);
    expect(back).toEqual(claims);
    expect(back.project?.id).toBe('p1');
    expect(back.auditIds[0]).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('rejects an expired token', async () => {
    let t = Date.now();
    const tokens = service(undefined, () => t);
    const { token } = tokens.issue(input);
    t += 3601 * 1000;
    await expect(tokens.verify(token)).rejects.toMatchObject({ kind: 'Unauthorized' });
  });

  it('rejects a token verified earlier once it expires or is revoked', async () => {
    let t = Date.now();
    const tokens = service(undefined, () => t);
    const a = tokens.issue(input);
    const b = tokens.issue(input);
    await expect(tokens.verify(a.token)).resolves.toMatchObject({ userId: 'u1' });
    await expect(tokens.verify(b.token)).resolves.toMatchObject({ userId: 'u1' });
    await tokens.revoke(b.claims);
    await expect(tokens.verify(b.token)).rejects.toMatchObject({ kind: 'Unauthorized' });
    t += 3600 * 1000; // exp is the issue second + ttl: now at or past it
    await expect(tokens.verify(a.token)).rejects.toMatchObject({ kind: 'Unauthorized' });
  });

  it('shares verified claims read-only', async () => {
    const tokens = service();
    const { token } = tokens.issue(input);
    const claims = await tokens.verify(token);
    expect(() => claims.roles.push({ id: 'r2', name: 'admin' })).toThrow(TypeError);
    expect((await tokens.verify(token)).roles.map((r) => r.name)).toEqual(['member']);
  });

  it('rejects a forged signature and alg=none', async () => {
    const tokens = service();
    const { token } = tokens.issue(input);
    const [h, p] = token.split('.');
    await expect(tokens.verify(`${h}.${p}.AAAA`)).rejects.toMatchObject({ kind: 'Unauthorized' });
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', kid: 'k1' })).toString('base64url')}.${p}.`;
    await expect(tokens.verify(none)).rejects.toMatchObject({ kind: 'Unauthorized' });
    const otherKey = jwt.sign({ sub: 'x' }, 'c'.repeat(40), { algorithm: 'HS256', keyid: 'k1' });
    await expect(tokens.verify(otherKey)).rejects.toMatchObject({ kind: 'Unauthorized' });
  });

  it('keeps verifying tokens of a rotated-out signing key while it is listed', async () => {
    const old = service(`k1:${secretA}`);
    const { token } = old.issue(input);
    const rotated = service(`k2:${secretB},k1:${secretA}`);
    await expect(rotated.verify(token)).resolves.toMatchObject({ userId: 'u1' });
    expect(jwt.decode(rotated.issue(input).token, { complete: true })?.header.kid).toBe('k2');
    await expect(service(`k2:${secretB}`).verify(token)).rejects.toMatchObject({ kind: 'Unauthorized' });
  });

  it('revokes one token, and every token exchanged from it, however many steps away', async () => {
    const tokens = service();
    const first = tokens.issue(input);
    const exchanged = tokens.issue({ ...input, methods: ['token'], parent: first.claims });
    expect(exchanged.claims.expiresAt).toEqual(first.claims.expiresAt);
    expect(exchanged.claims.auditIds[1]).toBe(first.claims.auditIds[0]);
    // Exchanged again: the chain is still named by its first token.
    const twice = tokens.issue({ ...input, methods: ['token'], parent: exchanged.claims });
    expect(twice.claims.auditIds).toEqual([expect.any(String), first.claims.auditIds[0]]);
    const other = tokens.issue(input);
    await tokens.revoke(first.claims);
    await expect(tokens.verify(first.token)).rejects.toMatchObject({ kind: 'Unauthorized' });
    await expect(tokens.verify(exchanged.token)).rejects.toMatchObject({ kind: 'Unauthorized' });
    await expect(tokens.verify(twice.token)).rejects.toMatchObject({ kind: 'Unauthorized' });
    await expect(tokens.verify(other.token)).resolves.toBeDefined();
  });

  it('revokes every earlier token of a user, not later ones', async () => {
    let t = 1_000_000;
    const tokens = service(undefined, () => t);
    const before = tokens.issue(input);
    t += 5;
    await tokens.revokeUser('u1');
    t += 5;
    const after = tokens.issue(input);
    await expect(tokens.verify(before.token)).rejects.toMatchObject({ kind: 'Unauthorized' });
    await expect(tokens.verify(after.token)).resolves.toBeDefined();
  });

  it('refuses short secrets and malformed key lists', () => {
    expect(() => parseSigningKeys('k1:short')).toThrow('shorter than 32');
    expect(() => parseSigningKeys('nokid')).toThrow('kid:secret');
  });
});

describe('passwords', () => {
  it('hashes with scrypt and verifies only the right password', async () => {
    const stored = await hashPassword('correct horse');
    expect(stored).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect(stored).not.toContain('correct horse');
    await expect(verifyPassword('correct horse', stored)).resolves.toBe(true);
    await expect(verifyPassword('correct hors', stored)).resolves.toBe(false);
    await expect(verifyPassword('x', 'garbage')).resolves.toBe(false);
  });
});
