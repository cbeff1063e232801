import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { join } from 'node:path';

/** Runs applyNice in a child process (never in the test runner) and reads back every thread's nice. */
function niceOfThreadsAfter(nice: number): number[] {
  const script = `
    const { readdirSync, readFileSync } = require('node:fs');
    const { applyNice } = require(${JSON.stringify(join(__dirname, 'priority.ts'))});
    const log = { info() {}, warn(o) { console.error(JSON.stringify(o)); } };
    applyNice(${nice}, log);
    require('node:crypto').pbkdf2Sync('x', 'y', 1, 8, 'sha256'); // a thread pool started after
    setTimeout(() => {
      const nices = readdirSync('/proc/self/task').map((tid) => {
        const stat = readFileSync('/proc/self/task/' + tid + '/stat', 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
      });
      console.log(JSON.stringify(nices));
    }, 50);`;
  const out = execFileSync(process.execPath, ['--require', 'tsx/cjs', '-e', script], { encoding: 'utf8' });
  return JSON.parse(out.trim()) as number[];
}

describe('applyNice', () => {
  it('sets the nice value of every thread of the process', () => {
    const nices = niceOfThreadsAfter(7);
    expect(nices.length).toBeGreaterThan(1); // node has worker threads beside the main one
    expect(new Set(nices)).toEqual(new Set([7]));
  });

  it('leaves the process alone at 0 (its threads keep the nice they started with)', () => {
    expect(new Set(niceOfThreadsAfter(0))).toEqual(new Set([getPriority()]));
  });
});

/** The nice value of an autogroup as /proc/<pid>/autogroup shows it ("/autogroup-N nice K"). */
function autogroupNice(text: string): number {
  const m = /nice (-?\d+)/.exec(text);
  if (!m) throw new Error(`unexpected autogroup line: ${text}`);
  return Number(m[1]);
}

/** Runs applyNice in a child, in a session of its own or in the test runner's; its autogroup line. */
function autogroupAfter(nice: number, ownSession: boolean): Promise<string> {
  const script = `
    const { readFileSync } = require('node:fs');
    const { applyNice } = require(${JSON.stringify(join(__dirname, 'priority.ts'))});
    applyNice(${nice}, { info() {}, warn() {} });
    process.stdout.write(readFileSync('/proc/self/autogroup', 'utf8'));`;
  return new Promise((resolve, reject) => {
    // detached: the child calls setsid(), as a daemon started by systemd is its session's leader.
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', '-e', script], {
      detached: ownSession,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`exit ${code}`))));
  });
}

// Kernels built without autogroup scheduling have no /proc/self/autogroup: nothing to test there.
const describeAutogroup = existsSync('/proc/self/autogroup') ? describe : describe.skip;

describeAutogroup('applyNice with autogroup scheduling', () => {
  it("sets its own session's autogroup when the process leads that session", async () => {
    const line = await autogroupAfter(7, true);
    expect(autogroupNice(line)).toBe(7);
    expect(line.split(' ')[0]).not.toBe(readFileSync('/proc/self/autogroup', 'utf8').split(' ')[0]);
  });

  it('leaves a session it does not lead alone (the group is shared with its parent)', async () => {
    const before = readFileSync('/proc/self/autogroup', 'utf8').trim();
    const line = await autogroupAfter(7, false);
    expect(line).toBe(before);
    expect(readFileSync('/proc/self/autogroup', 'utf8').trim()).toBe(before);
  });
});
