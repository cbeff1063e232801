/**
 * Encryption of stored secrets (EC2 credential secrets) with AES-256-GCM. Each key is derived
 * (HKDF-SHA256) from a token signing key and named by its kid, so the signing keys' rotation
 * also rotates these: a blob stays readable while its key is still listed.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { SigningKey } from '@strato/auth';

export class SecretBox {
  private readonly keys: Map<string, Buffer>;
  private readonly current: string;

  constructor(keys: readonly SigningKey[]) {
    if (keys.length === 0) throw new Error('SecretBox needs at least one key');
    this.keys = new Map(
      keys.map((k) => [
        k.kid,
        Buffer.from(hkdfSync('sha256', k.secret, 'strato', 'identity-credential-secret', 32)),
      ]),
    );
    this.current = keys[0]!.kid;
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.current)!, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    const parts = [iv, body, cipher.getAuthTag()].map((b) => b.toString('base64url'));
    return [this.current, ...parts].join(':');
  }

  /** The plain text, or null when the blob is damaged or its key is no longer listed. */
  open(blob: string): string | null {
    const [kid, iv, body, tag] = blob.split(':');
    const key = kid === undefined ? undefined : this.keys.get(kid);
    if (!key || iv === undefined || body === undefined || tag === undefined) return null;
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString(
        'utf8',
      );
    } catch {
      return null;
    }
  }
}
