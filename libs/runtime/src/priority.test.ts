import { execFileSync } from 'node:child_process';
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
