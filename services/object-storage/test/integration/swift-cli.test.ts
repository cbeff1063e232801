/** python-swiftclient (the real `swift` CLI) against the service. */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PROJECT, OTHER_PROJECT, run, startObjectStorage, type Harness } from './harness';

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

jest.setTimeout(120_000);

describe('swift CLI', () => {
  let h: Harness;
  let work: string;
  const swift = (...args: string[]) =>
    run('swift', ['--os-auth-token', h.token, '--os-storage-url', h.storageUrl, ...args], {
      cwd: work,
      maxBuffer: 16 * 1024 * 1024,
    });

  beforeAll(async () => {
    h = await startObjectStorage();
    work = join(h.dir, 'work');
    await mkdir(work);
  });
  afterAll(() => h.stop());

  it('uploads, lists, stats, downloads with the same checksum, posts metadata and deletes', async () => {
    const data = randomBytes(300 * 1024);
    await writeFile(join(work, 'file.bin'), data);
    await writeFile(join(work, 'note.txt'), 'hello swift\n');
    await swift('upload', 'docs', 'file.bin', 'note.txt');
    expect((await swift('list', 'docs')).stdout.trim().split('\n')).toEqual(['file.bin', 'note.txt']);
    expect((await swift('list')).stdout.trim()).toBe('docs');

    const stat = (await swift('stat', 'docs', 'file.bin')).stdout;
    expect(stat).toContain(`Content Length: ${data.length}`);
    expect(stat).toContain(`ETag: ${md5(data)}`);

    await swift('download', 'docs', 'file.bin', '-o', 'back.bin');
    expect(md5(await readFile(join(work, 'back.bin')))).toBe(md5(data));

    await swift('post', 'docs', 'note.txt', '-m', 'Color:blue');
    expect((await swift('stat', 'docs', 'note.txt')).stdout).toMatch(/Meta Color: blue/);
    await swift('post', 'docs', '-m', 'Owner:team-a');
    const cstat = (await swift('stat', 'docs')).stdout;
    expect(cstat).toMatch(/Meta Owner: team-a/);
    expect(cstat).toMatch(/Objects: 2/);
    expect(cstat).toContain(`Bytes: ${data.length + 12}`);
    const astat = (await swift('stat')).stdout;
    expect(astat).toMatch(/Containers: 1/);
    expect(astat).toContain(`AUTH_${PROJECT}`);

    await swift('delete', 'docs', 'note.txt');
    expect((await swift('list', 'docs')).stdout.trim()).toBe('file.bin');
    await swift('delete', 'docs');
    expect((await swift('list')).stdout.trim()).toBe('');
  });

  it('uploads a file larger than the segment size (DLO and SLO) and downloads it intact', async () => {
    const data = randomBytes(2 * 1024 * 1024 + 12345);
    await writeFile(join(work, 'big.bin'), data);
    await swift('upload', '--segment-size', '524288', 'seg', 'big.bin');
    await swift(
      'upload',
      '--use-slo',
      '--segment-size',
      '524288',
      'seg',
      'big.bin',
      '--object-name',
      'big-slo.bin',
    );
    const segs = (await swift('list', 'seg_segments')).stdout.trim().split('\n');
    expect(segs.length).toBe(10);
    for (const name of ['big.bin', 'big-slo.bin']) {
      await swift('download', 'seg', name, '-o', `${name}.back`);
      expect(md5(await readFile(join(work, `${name}.back`)))).toBe(md5(data));
    }
    const slo = (await swift('stat', 'seg', 'big-slo.bin')).stdout;
    expect(slo).toContain(`Content Length: ${data.length}`);
    expect(slo).toMatch(/Manifest: |Static Large Object|X-Static-Large-Object: True/i);
    await swift('delete', 'seg', 'big-slo.bin');
    await swift('delete', 'seg', 'big.bin');
    expect((await swift('list', 'seg_segments')).stdout.trim()).toBe('');
  });

  it("refuses another project's account with 403 and a missing token with 401", async () => {
    const other = await fetch(`${h.base}/v1/AUTH_${OTHER_PROJECT}`, { headers: { 'x-auth-token': h.token } });
    expect(other.status).toBe(403);
    const none = await fetch(`${h.storageUrl}`);
    expect(none.status).toBe(401);
    const admin = await fetch(`${h.base}/v1/AUTH_${OTHER_PROJECT}`, {
      method: 'HEAD',
      headers: { 'x-auth-token': h.tokenFor(PROJECT, ['admin']) },
    });
    expect(admin.status).toBe(204);
  });
});
