import { decodeAwsChunked } from './aws-chunked';
import {
  EMPTY_SHA256,
  canonicalQuery,
  checkTime,
  parseSigV4,
  signingKey,
  verifySigV4,
  type SignedRequest,
} from './sigv4';

// The GET Object example of the AWS Signature V4 documentation for S3.
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const EXAMPLE_SIGNATURE = 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41';

function exampleRequest(signature = EXAMPLE_SIGNATURE): SignedRequest {
  return {
    method: 'GET',
    rawPath: '/test.txt',
    rawQuery: '',
    headers: {
      host: 'examplebucket.s3.amazonaws.com',
      range: 'bytes=0-9',
      'x-amz-content-sha256': EMPTY_SHA256,
      'x-amz-date': '20130524T000000Z',
      authorization:
        'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,' +
        `SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=${signature}`,
    },
  };
}

describe('Signature V4', () => {
  it('verifies the AWS documentation example', () => {
    const req = exampleRequest();
    const auth = parseSigV4(req, new URLSearchParams());
    expect(auth).toMatchObject({ accessKey: 'AKIAIOSFODNN7EXAMPLE', region: 'us-east-1', service: 's3' });
    expect(() => verifySigV4(req, auth, SECRET)).not.toThrow();
  });

  it('refuses a signature that is off by one character', () => {
    const last = EXAMPLE_SIGNATURE.at(-1) === '0' ? '1' : '0';
    const req = exampleRequest(EXAMPLE_SIGNATURE.slice(0, -1) + last);
    expect(() => verifySigV4(req, parseSigV4(req, new URLSearchParams()), SECRET)).toThrow(
      expect.objectContaining({ code: 'SignatureDoesNotMatch' }),
    );
  });

  it('refuses a request whose signed header was changed', () => {
    const req = exampleRequest();
    req.headers.range = 'bytes=0-10';
    expect(() => verifySigV4(req, parseSigV4(req, new URLSearchParams()), SECRET)).toThrow(
      expect.objectContaining({ code: 'SignatureDoesNotMatch' }),
    );
  });

  it('refuses the wrong secret', () => {
    const req = exampleRequest();
    expect(() => verifySigV4(req, parseSigV4(req, new URLSearchParams()), SECRET + 'x')).toThrow(
      expect.objectContaining({ code: 'SignatureDoesNotMatch' }),
    );
  });

  it('refuses skewed clocks and expired presigned URLs', () => {
    const auth = parseSigV4(exampleRequest(), new URLSearchParams());
    const signedAt = Date.UTC(2013, 4, 24);
    expect(() => checkTime(auth, signedAt + 60_000)).not.toThrow();
    expect(() => checkTime(auth, signedAt + 16 * 60_000)).toThrow(
      expect.objectContaining({ code: 'RequestTimeTooSkewed' }),
    );
    const presigned = { ...auth, presigned: true, expiresSeconds: 60 };
    expect(() => checkTime(presigned, signedAt + 59_000)).not.toThrow();
    expect(() => checkTime(presigned, signedAt + 61_000)).toThrow(/Request has expired/);
  });

  it('canonicalises the query: sorted, AWS-encoded, without the presigned signature', () => {
    expect(canonicalQuery('prefix=a%20b&list-type=2&X-Amz-Signature=abc&marker=', true)).toBe(
      'list-type=2&marker=&prefix=a%20b',
    );
  });
});

describe('aws-chunked payloads', () => {
  // The chunked upload example of the AWS documentation: 65 KiB of 'a' in a 64 KiB and a 1 KiB chunk.
  const key = signingKey(SECRET, '20130524', 'us-east-1', 's3');
  const signer = {
    signingKey: key,
    amzDate: '20130524T000000Z',
    scope: '20130524/us-east-1/s3/aws4_request',
    seedSignature: '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9',
  };
  const sigs = [
    'ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648',
    '0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497',
    'b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9',
  ];
  function body(signatures = sigs): Buffer {
    return Buffer.concat([
      Buffer.from(`10000;chunk-signature=${signatures[0]}\r\n`),
      Buffer.alloc(65536, 'a'),
      Buffer.from(`\r\n400;chunk-signature=${signatures[1]}\r\n`),
      Buffer.alloc(1024, 'a'),
      Buffer.from(`\r\n0;chunk-signature=${signatures[2]}\r\n\r\n`),
    ]);
  }
  async function* pieces(buf: Buffer, size: number): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
  }
  async function decode(buf: Buffer, size: number, s = signer): Promise<Buffer> {
    const out: Uint8Array[] = [];
    for await (const c of decodeAwsChunked(pieces(buf, size), s, { trailer: false })) out.push(c);
    return Buffer.concat(out);
  }

  it('decodes the documented example and checks every chunk signature, however the bytes arrive', async () => {
    for (const size of [1, 7, 4096, 1 << 20]) {
      const data = await decode(body(), size);
      expect(data.equals(Buffer.alloc(66560, 'a'))).toBe(true);
    }
  });

  it('fails on a wrong chunk signature', async () => {
    const bad = [...sigs];
    bad[1] = bad[1]!.replace(/^0/, '1');
    await expect(decode(body(bad), 4096)).rejects.toMatchObject({ code: 'SignatureDoesNotMatch' });
  });

  it('fails on a truncated body', async () => {
    await expect(decode(body().subarray(0, 50_000), 4096)).rejects.toMatchObject({ code: 'IncompleteBody' });
  });
});
