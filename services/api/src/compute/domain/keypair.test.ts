import { createPublicKey } from 'node:crypto';
import { generateRsaKeypair, sshFingerprint } from './keypair';

describe('key pairs', () => {
  it('generates an RSA key whose OpenSSH public key parses and fingerprints the same', async () => {
    const kp = await generateRsaKeypair();
    expect(kp.privateKey).toContain('-----BEGIN RSA PRIVATE KEY-----');
    expect(kp.publicKey).toMatch(/^ssh-rsa AAAAB3NzaC1yc2E\S+ Generated-by-Strato$/);
    expect(kp.fingerprint).toMatch(/^([0-9a-f]{2}:){15}[0-9a-f]{2}$/);
    expect(sshFingerprint(kp.publicKey)).toBe(kp.fingerprint);
    // The public half carries the private key's modulus and exponent.
    const fromPrivate = createPublicKey(kp.privateKey).export({ format: 'jwk' });
    const blob = Buffer.from(kp.publicKey.split(' ')[1]!, 'base64');
    const fields: Buffer[] = [];
    for (let at = 0; at < blob.length;) {
      const len = blob.readUInt32BE(at);
      fields.push(blob.subarray(at + 4, at + 4 + len));
      at += 4 + len;
    }
    const strip = (b: Buffer) => (b[0] === 0 ? b.subarray(1) : b);
    expect(fields[0]!.toString()).toBe('ssh-rsa');
    expect(strip(fields[1]!).toString('base64url')).toBe(fromPrivate.e);
    expect(strip(fields[2]!).toString('base64url')).toBe(fromPrivate.n);
  });

  it('fingerprints a known ed25519 key', () => {
    const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user@host';
    expect(sshFingerprint(key)).toMatch(/^([0-9a-f]{2}:){15}[0-9a-f]{2}$/);
  });

  it('refuses text that is not a public key', () => {
    expect(() => sshFingerprint('not a key')).toThrow(
      expect.objectContaining({
        kind: 'Invalid',
        message: expect.stringContaining('Keypair data is invalid'),
      }),
    );
    expect(() =>
      sshFingerprint('ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl'),
    ).toThrow('Keypair data is invalid');
  });
});
