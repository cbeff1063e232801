/** awscli (s3 and s3api), curl on a presigned URL, and rclone against the S3 API. */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ACCESS_KEY, SECRET_KEY, run, startObjectStorage, type Harness } from './harness';

jest.setTimeout(180_000);

async function md5File(path: string): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

describe('S3 with awscli, curl and rclone', () => {
  let h: Harness;
  let work: string;
  const env = () => ({
    ...process.env,
    AWS_CA_BUNDLE: '',
    AWS_ACCESS_KEY_ID: ACCESS_KEY,
    AWS_SECRET_ACCESS_KEY: SECRET_KEY,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
  });
  const aws = (...args: string[]) =>
    run('aws', ['--endpoint-url', h.base, ...args], { cwd: work, env: env(), maxBuffer: 16 * 1024 * 1024 });

  beforeAll(async () => {
    h = await startObjectStorage();
    work = join(h.dir, 'work');
    await mkdir(work);
  });
  afterAll(() => h.stop());

  it('makes a bucket, copies files in and out (100 MiB via multipart), lists and removes', async () => {
    await aws('s3', 'mb', 's3://photos');
    const big = join(work, 'big.bin');
    await writeFile(big, randomBytes(100 * 1024 * 1024));
    await writeFile(join(work, 'small.txt'), 'small file\n');
    await aws('s3', 'cp', big, 's3://photos/2024/big.bin');
    await aws('s3', 'cp', join(work, 'small.txt'), 's3://photos/small.txt');

    const head = JSON.parse(
      (await aws('s3api', 'head-object', '--bucket', 'photos', '--key', '2024/big.bin')).stdout,
    );
    expect(head.ContentLength).toBe(100 * 1024 * 1024);
    expect(head.ETag).toMatch(/^"[0-9a-f]{32}-\d+"$/);

    const ls = (await aws('s3', 'ls', 's3://photos/')).stdout;
    expect(ls).toContain('PRE 2024/');
    expect(ls).toContain('small.txt');
    const v2: { Contents: { Key: string }[] } = JSON.parse(
      (await aws('s3api', 'list-objects-v2', '--bucket', 'photos')).stdout,
    );
    expect(v2.Contents.map((c) => c.Key)).toEqual(['2024/big.bin', 'small.txt']);

    await aws('s3', 'cp', 's3://photos/2024/big.bin', join(work, 'big.back'));
    expect(await md5File(join(work, 'big.back'))).toBe(await md5File(big));

    await aws('s3', 'rm', 's3://photos/2024/big.bin');
    expect((await aws('s3', 'ls', 's3://photos/', '--recursive')).stdout).not.toContain('big.bin');
    expect((await aws('s3', 'ls')).stdout).toContain('photos');
  });

  it('pages list-objects-v2 with continuation tokens and folds common prefixes', async () => {
    await aws('s3', 'mb', 's3://paging');
    const empty = join(work, 'empty');
    await writeFile(empty, '');
    for (let i = 0; i < 6; i++) {
      await aws('s3api', 'put-object', '--bucket', 'paging', '--key', `dir${i % 3}/k${i}`, '--body', empty);
    }
    const page = JSON.parse(
      (await aws('s3api', 'list-objects-v2', '--bucket', 'paging', '--max-items', '5', '--page-size', '2'))
        .stdout,
    );
    expect(page.Contents).toHaveLength(5);
    expect(page.NextToken).toBeDefined();
    const folded: { CommonPrefixes: { Prefix: string }[] } = JSON.parse(
      (await aws('s3api', 'list-objects-v2', '--bucket', 'paging', '--delimiter', '/')).stdout,
    );
    expect(folded.CommonPrefixes.map((p) => p.Prefix)).toEqual(['dir0/', 'dir1/', 'dir2/']);
  });

  it('serves a presigned URL to curl and refuses it once expired or altered', async () => {
    await aws('s3', 'mb', 's3://shared');
    await writeFile(join(work, 'report.csv'), 'a,b\n1,2\n');
    await aws('s3', 'cp', join(work, 'report.csv'), 's3://shared/report.csv');
    const url = (await aws('s3', 'presign', 's3://shared/report.csv', '--expires-in', '300')).stdout.trim();
    expect((await run('curl', ['-sf', url])).stdout).toBe('a,b\n1,2\n');
    // awscli v1 presigns with Signature V2 unless told s3v4; check both.
    const v4config = join(work, 'aws-v4.cfg');
    await writeFile(v4config, '[default]\ns3 =\n    signature_version = s3v4\n');
    const v4url = (
      await run('aws', ['--endpoint-url', h.base, 's3', 'presign', 's3://shared/report.csv'], {
        env: { ...env(), AWS_CONFIG_FILE: v4config },
      })
    ).stdout.trim();
    expect(v4url).toContain('X-Amz-Signature=');
    expect((await run('curl', ['-sf', v4url])).stdout).toBe('a,b\n1,2\n');

    const tampered = v4url.replace(
      /X-Amz-Signature=([0-9a-f])/,
      (_, c: string) => `X-Amz-Signature=${c === '0' ? '1' : '0'}`,
    );
    const bad = await fetch(tampered);
    expect(bad.status).toBe(403);
    expect(await bad.text()).toContain('<Code>SignatureDoesNotMatch</Code>');

    const expiring = (
      await aws('s3', 'presign', 's3://shared/report.csv', '--expires-in', '1')
    ).stdout.trim();
    await new Promise((r) => setTimeout(r, 2100));
    const expired = await fetch(expiring);
    expect(expired.status).toBe(403);
    expect(await expired.text()).toMatch(/<Code>AccessDenied<\/Code><Message>Request has expired/);
  });

  it('answers with S3 error codes', async () => {
    const missing = await aws(
      's3api',
      'get-object',
      '--bucket',
      'shared',
      '--key',
      'nope',
      join(work, 'x'),
    ).catch((e: { stderr: string }) => e);
    expect(missing.stderr).toContain('NoSuchKey');
    const badName = await aws('s3api', 'create-bucket', '--bucket', 'Bad_Name').catch(
      (e: { stderr: string }) => e,
    );
    expect(badName.stderr).toMatch(/InvalidBucketName|Invalid bucket name/);
    const notEmpty = await aws('s3api', 'delete-bucket', '--bucket', 'shared').catch(
      (e: { stderr: string }) => e,
    );
    expect(notEmpty.stderr).toContain('BucketNotEmpty');
    const again = await aws('s3api', 'create-bucket', '--bucket', 'shared').catch(
      (e: { stderr: string }) => e,
    );
    expect(again.stderr).toContain('BucketAlreadyOwnedByYou');
  });

  it("reads an object's ACL, and leaves objects and buckets whole when asked for sub-resources they lack", async () => {
    await aws('s3api', 'create-bucket', '--bucket', 'acls');
    const file = join(work, 'acl-data.txt');
    await writeFile(file, 'the data');
    await aws('s3api', 'put-object', '--bucket', 'acls', '--key', 'k', '--body', file);
    const acl = JSON.parse(
      (await aws('s3api', 'get-object-acl', '--bucket', 'acls', '--key', 'k')).stdout,
    ) as {
      Grants: { Permission: string }[];
    };
    expect(acl.Grants.map((g) => g.Permission)).toEqual(['FULL_CONTROL']);
    const refused = (args: string[]) =>
      aws('s3api', ...args).then(
        () => 'accepted',
        (e: { stderr: string }) => e.stderr,
      );
    expect(
      await refused(['put-object-acl', '--bucket', 'acls', '--key', 'k', '--acl', 'public-read']),
    ).toContain('NotImplemented');
    expect(await refused(['delete-object-tagging', '--bucket', 'acls', '--key', 'k'])).toContain(
      'NotImplemented',
    );
    // Nor does removing a bucket's policy remove the (empty) bucket.
    await aws('s3api', 'create-bucket', '--bucket', 'empty-policy');
    expect(await refused(['delete-bucket-policy', '--bucket', 'empty-policy'])).toContain('NotImplemented');
    expect(
      await refused([
        'put-bucket-tagging',
        '--bucket',
        'empty-policy',
        '--tagging',
        'TagSet=[{Key=a,Value=b}]',
      ]),
    ).toContain('NotImplemented');
    await aws('s3api', 'head-bucket', '--bucket', 'empty-policy');
    const back = join(work, 'acl-back.txt');
    await aws('s3api', 'get-object', '--bucket', 'acls', '--key', 'k', back);
    expect(await readFile(back, 'utf8')).toBe('the data');
  });

  it('syncs a directory tree both ways with rclone', async () => {
    const tree = join(work, 'tree');
    await mkdir(join(tree, 'a', 'b'), { recursive: true });
    await writeFile(join(tree, 'top.txt'), 'top');
    await writeFile(join(tree, 'a', 'mid.txt'), 'mid');
    await writeFile(join(tree, 'a', 'b', 'deep.bin'), randomBytes(70_000));
    const remote = ':s3:';
    const rclone = (...args: string[]) =>
      run('rclone', [...args, '--config', '/dev/null', '--retries', '1', '--low-level-retries', '2'], {
        env: {
          ...env(),
          RCLONE_S3_PROVIDER: 'Other',
          RCLONE_S3_ACCESS_KEY_ID: ACCESS_KEY,
          RCLONE_S3_SECRET_ACCESS_KEY: SECRET_KEY,
          RCLONE_S3_ENDPOINT: h.base,
          RCLONE_S3_REGION: 'us-east-1',
          RCLONE_S3_FORCE_PATH_STYLE: 'true',
        },
      });
    await aws('s3', 'mb', 's3://synced');
    await rclone('sync', tree, `${remote}synced/tree`);
    const listed: { Contents: { Key: string }[] } = JSON.parse(
      (await aws('s3api', 'list-objects-v2', '--bucket', 'synced')).stdout,
    );
    expect(listed.Contents.map((c) => c.Key).sort()).toEqual([
      'tree/a/b/deep.bin',
      'tree/a/mid.txt',
      'tree/top.txt',
    ]);
    const back = join(work, 'tree-back');
    await rclone('sync', `${remote}synced/tree`, back);
    expect((await readdir(back, { recursive: true })).sort()).toEqual(
      ['a', 'a/b', 'a/b/deep.bin', 'a/mid.txt', 'top.txt'].sort(),
    );
    expect(await readFile(join(back, 'a', 'b', 'deep.bin'))).toEqual(
      await readFile(join(tree, 'a', 'b', 'deep.bin')),
    );
    await rclone('check', tree, `${remote}synced/tree`);
  });
});
