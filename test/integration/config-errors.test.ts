/** A bad or missing variable stops a service at start with one clear line naming it. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../support/stack';

const run = promisify(execFile);

async function start(script: string, env: Record<string, string>) {
  try {
    await run(process.execPath, ['--import', 'tsx', join(ROOT, script)], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
      timeout: 30_000,
    });
    return { code: 0, stderr: '' };
  } catch (err) {
    const e = err as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
}

describe('start-up configuration errors', () => {
  it('names every bad variable of the api in one line and exits 1', async () => {
    const { code, stderr } = await start('services/api/src/main.ts', {
      IDENTITY_PORT: 'eighty',
      DATABASE_URL: 'mysql://nope',
    });
    expect(code).toBe(1);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('IDENTITY_PORT="eighty" is invalid');
    expect(lines[0]).toContain('DATABASE_URL="mysql://nope" is invalid');
    expect(lines[0]).toContain('TOKEN_SIGNING_KEYS is required');
  });

  it('never prints a secret it refuses', async () => {
    const { code, stderr } = await start('services/scheduler/src/main.ts', {
      REDIS_URL: 'http://user:hunter2@x',
    });
    expect(code).toBe(1);
    expect(stderr).toContain('REDIS_URL');
    expect(stderr).not.toContain('hunter2');
  });
});
