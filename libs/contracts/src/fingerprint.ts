/**
 * A contract's fingerprint: the SHA-256 of its schemas' JSON Schema shape (request and, for
 * RPC, reply), with object keys sorted. Any change of shape changes it; the checked-in
 * fingerprints.json pins each `type@version`, so a change without a version bump fails a test.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { MessageContract } from './contract';

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value as Record<string, unknown>)
        .sort()
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

export function contractShape(contract: MessageContract): unknown {
  return canonical({
    kind: contract.kind,
    request: z.toJSONSchema(contract.schema),
    reply: contract.reply ? z.toJSONSchema(contract.reply) : null,
  });
}

export function fingerprint(contract: MessageContract): string {
  return createHash('sha256')
    .update(JSON.stringify(contractShape(contract)))
    .digest('hex');
}

export const fingerprintKey = (contract: MessageContract): string => `${contract.type}@${contract.version}`;
