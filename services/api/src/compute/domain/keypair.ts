/**
 * SSH key pairs: generation (RSA 2048, like Nova, private key returned once) and validation
 * and fingerprinting (MD5 of the key blob, colon-separated) of imported public keys.
 */
import { createHash, createPublicKey, generateKeyPair, X509Certificate } from 'node:crypto';
import { promisify } from 'node:util';
import { invalid } from '@strato/errors';

const generateKeyPairAsync = promisify(generateKeyPair);

export interface GeneratedKeypair {
  privateKey: string;
  publicKey: string;
  fingerprint: string;
}

function sshString(data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  return Buffer.concat([len, data]);
}

/** An SSH mpint: big-endian, with a leading zero byte when the top bit is set. */
function sshMpint(unsigned: Buffer): Buffer {
  let start = 0;
  while (start < unsigned.length - 1 && unsigned[start] === 0) start++;
  const trimmed = unsigned.subarray(start);
  return sshString((trimmed[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

export function md5Fingerprint(blob: Buffer): string {
  return createHash('md5')
    .update(blob)
    .digest('hex')
    .replace(/(..)(?!$)/g, '$1:');
}

export async function generateRsaKeypair(comment = 'Generated-by-Strato'): Promise<GeneratedKeypair> {
  const { publicKey, privateKey } = await generateKeyPairAsync('rsa', {
    modulusLength: 2048,
    publicExponent: 0x10001,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  const jwk = createPublicKey(publicKey).export({ format: 'jwk' });
  const blob = Buffer.concat([
    sshString(Buffer.from('ssh-rsa')),
    sshMpint(Buffer.from(jwk.e ?? '', 'base64url')),
    sshMpint(Buffer.from(jwk.n ?? '', 'base64url')),
  ]);
  return {
    privateKey,
    publicKey: `ssh-rsa ${blob.toString('base64')} ${comment}`,
    fingerprint: md5Fingerprint(blob),
  };
}

const SSH_TYPES = new Set([
  'ssh-rsa',
  'ssh-dss',
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
]);

const INVALID_KEY = 'Keypair data is invalid: failed to generate fingerprint';

/** Validates an OpenSSH public key line and returns its fingerprint. */
export function sshFingerprint(publicKey: string): string {
  const parts = publicKey.trim().split(/\s+/);
  const [type, data] = parts;
  if (!type || !data || !SSH_TYPES.has(type) || !/^[A-Za-z0-9+/]+={0,2}$/.test(data)) {
    throw invalid(INVALID_KEY);
  }
  const blob = Buffer.from(data, 'base64');
  if (blob.length < 4) throw invalid(INVALID_KEY);
  const len = blob.readUInt32BE(0);
  if (len + 4 > blob.length || blob.subarray(4, 4 + len).toString('latin1') !== type)
    throw invalid(INVALID_KEY);
  return md5Fingerprint(blob);
}

/** Validates a PEM certificate (type x509) and returns its SHA-1 fingerprint, like Nova. */
export function x509Fingerprint(pem: string): string {
  try {
    const cert = new X509Certificate(pem);
    return cert.fingerprint.toLowerCase();
  } catch {
    throw invalid(INVALID_KEY);
  }
}
