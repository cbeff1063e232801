import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '../../..');
const LIBRARY = path.resolve(__dirname, '../src/index.ts');

/**
 * libvirt's default error handler writes to file descriptor 2 from C, which jest cannot
 * intercept, so this runs a real script in a child process (under tsx, as services run) and
 * looks at what reached its stderr.
 */
describe('libvirt error output', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'strato-libvirt-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('never reaches stderr, while the errors still arrive as LibvirtError', async () => {
    const script = path.join(dir, 'errors.ts');
    await writeFile(
      script,
      `import { LibvirtConnection, watchLifecycle } from ${JSON.stringify(LIBRARY)};
async function main() {
  const kinds: string[] = [];
  const conn = await LibvirtConnection.open('test:///default');
  await conn.lookup({ name: 'no-such-domain' }).catch((e: { kind: string }) => kinds.push(e.kind));
  await conn.define('<domain').catch((e: { kind: string }) => kinds.push(e.kind));
  await conn.close();
  await LibvirtConnection.open('qemu+unix:///system?socket=/nonexistent/x.sock').catch((e: { kind: string }) => kinds.push(e.kind));
  await watchLifecycle('qemu+unix:///system?socket=/nonexistent/x.sock', () => undefined).catch((e: { kind: string }) => kinds.push(e.kind));
  process.stdout.write(JSON.stringify(kinds));
}
void main();
`,
    );
    const { stdout, stderr } = await run(path.join(ROOT, 'node_modules/.bin/tsx'), [script], { cwd: ROOT });
    expect(JSON.parse(stdout)).toEqual(['NoDomain', 'InvalidXml', 'ConnectionFailed', 'ConnectionFailed']);
    expect(stderr).toBe('');
  });
});
