/**
 * Fails when a message schema changes without its version changing (like nova's object
 * fingerprint test). After a deliberate change: bump the contract's version, then run
 *   UPDATE_CONTRACT_FINGERPRINTS=1 npx jest libs/contracts/src/fingerprint.test.ts
 * to record the new `type@version` fingerprint, and commit fingerprints.json.
 * Old entries stay: a version, once published, keeps its shape forever.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { defineMessage } from './contract';
import { fingerprint, fingerprintKey } from './fingerprint';
import { ALL_CONTRACTS } from './registry';

const FILE = join(__dirname, 'fingerprints.json');

function stored(): Record<string, string> {
  return JSON.parse(readFileSync(FILE, 'utf8')) as Record<string, string>;
}

if (process.env.UPDATE_CONTRACT_FINGERPRINTS === '1') {
  const next = { ...stored() };
  for (const contract of ALL_CONTRACTS) next[fingerprintKey(contract)] ??= fingerprint(contract);
  writeFileSync(FILE, `${JSON.stringify(next, null, 2)}\n`);
}

describe('message contract fingerprints', () => {
  const pinned = stored();

  it.each(ALL_CONTRACTS.map((c) => [fingerprintKey(c), c] as const))(
    '%s has the shape recorded for its version',
    (key, contract) => {
      expect(pinned[key]).toBeDefined(); // a new type or version: record it (see the header)
      if (pinned[key] !== fingerprint(contract)) {
        throw new Error(
          `${key} changed shape without a version bump: bump its version and record the new fingerprint`,
        );
      }
    },
  );

  it('gives every type@version exactly one contract', () => {
    const keys = ALL_CONTRACTS.map(fingerprintKey);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('changes when a field is added, renamed or retyped', () => {
    const base = { type: 'x.y', version: 1, kind: 'cast' as const, description: '' };
    const a = fingerprint(defineMessage({ ...base, schema: z.object({ id: z.string() }) }));
    expect(fingerprint(defineMessage({ ...base, schema: z.object({ id: z.string() }) }))).toBe(a);
    expect(
      fingerprint(defineMessage({ ...base, schema: z.object({ id: z.string(), n: z.int() }) })),
    ).not.toBe(a);
    expect(fingerprint(defineMessage({ ...base, schema: z.object({ ident: z.string() }) }))).not.toBe(a);
    expect(fingerprint(defineMessage({ ...base, schema: z.object({ id: z.int() }) }))).not.toBe(a);
    expect(fingerprint(defineMessage({ ...base, schema: z.object({ id: z.string().nullable() }) }))).not.toBe(
      a,
    );
  });
});
