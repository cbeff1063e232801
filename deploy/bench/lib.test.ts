import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { percentile, residentMiB, residentTogetherMiB } from './lib';

describe('percentile (nearest rank)', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100

  it('of 100 values, p50 is the 50th and p99 the 99th, not the largest', () => {
    expect(percentile(hundred, 50)).toBe(50);
    expect(percentile(hundred, 99)).toBe(99);
    expect(percentile(hundred, 100)).toBe(100);
  });

  it('rounds the rank up, so a percentile is never below the share it names', () => {
    const ten = hundred.slice(0, 10);
    expect(percentile(ten, 99)).toBe(10);
    expect(percentile(ten, 50)).toBe(5);
    expect(percentile(ten, 51)).toBe(6);
    expect(percentile(ten, 0)).toBe(1);
  });

  it('of one value, every percentile is that value; of none, NaN', () => {
    expect(percentile([7], 1)).toBe(7);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });
});

describe('residentTogetherMiB (distinct physical pages of a set of processes)', () => {
  // Frame numbers are visible only with CAP_SYS_ADMIN (bit 21 of the effective capabilities;
  // a container's root may lack it); elsewhere the reading is refused.
  const capEff = /^CapEff:\s+([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0';
  const root = (BigInt(`0x${capEff}`) & (1n << 21n)) !== 0n;

  it('of one process, is at most its RSS and close to it; of the same process twice, the same', () => {
    const together = residentTogetherMiB([process.pid, process.pid]);
    if (!root) {
      expect(together).toBeNull();
      return;
    }
    const { rss } = residentMiB(process.pid);
    expect(together).not.toBeNull();
    expect(together!).toBeLessThanOrEqual(rss + 2);
    expect(together!).toBeGreaterThan(rss * 0.8);
  });

  it('of two Node.js processes, counts the node binary they share once', async () => {
    const child = spawn(process.execPath, ['-e', 'process.stdout.write("up"); setTimeout(() => {}, 60000)'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await once(child.stdout, 'data');
      const together = residentTogetherMiB([process.pid, child.pid!]);
      if (!root) {
        expect(together).toBeNull();
        return;
      }
      const summed = residentMiB(process.pid).rss + residentMiB(child.pid!).rss;
      const shared = residentMiB(child.pid!).shared;
      expect(shared).toBeGreaterThan(10);
      // The child's shared pages (the node binary, libc) are the parent's too.
      expect(together!).toBeLessThan(summed - shared * 0.5);
    } finally {
      child.kill();
    }
  });
});
