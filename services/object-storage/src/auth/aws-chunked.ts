/**
 * Decodes an aws-chunked request body (Content-Encoding: aws-chunked), streaming:
 *   <hex size>;chunk-signature=<sig>\r\n<data>\r\n … 0;chunk-signature=<sig>\r\n[trailers]\r\n
 * With a signer, every chunk's signature is checked against the chain that starts at the
 * request's seed signature; a wrong one fails the stream (so the upload is discarded). Data
 * is passed on as it arrives; a chunk's signature is checked when the chunk ends, before the
 * upload can complete.
 */
import { createHash, type Hash } from 'node:crypto';
import { storageError } from '../domain/errors';
import { EMPTY_SHA256, hmacHex, signaturesEqual } from './sigv4';

export interface ChunkSigner {
  signingKey: Buffer;
  amzDate: string;
  scope: string;
  seedSignature: string;
}

const MAX_HEADER_LINE = 4096;

function bad(message: string): Error {
  return storageError('IncompleteBody', message);
}

export async function* decodeAwsChunked(
  source: AsyncIterable<Uint8Array>,
  signer: ChunkSigner | undefined,
  options: { trailer: boolean },
): AsyncGenerator<Uint8Array> {
  let pending: Buffer = Buffer.alloc(0);
  let previous = signer?.seedSignature ?? '';
  const iterator = source[Symbol.asyncIterator]();
  let ended = false;

  async function more(): Promise<boolean> {
    if (ended) return false;
    const next = await iterator.next();
    if (next.done) {
      ended = true;
      return false;
    }
    pending = pending.length === 0 ? Buffer.from(next.value) : Buffer.concat([pending, next.value]);
    return true;
  }

  async function line(): Promise<string> {
    for (;;) {
      const at = pending.indexOf('\r\n');
      if (at >= 0) {
        const text = pending.subarray(0, at).toString('latin1');
        pending = pending.subarray(at + 2);
        return text;
      }
      if (pending.length > MAX_HEADER_LINE) throw bad('aws-chunked header line too long');
      if (!(await more())) throw bad('aws-chunked body ended early');
    }
  }

  function check(hash: Hash, signature: string | undefined): void {
    if (!signer) return;
    if (!signature) throw storageError('SignatureDoesNotMatch', 'A chunk has no signature.');
    const toSign = [
      'AWS4-HMAC-SHA256-PAYLOAD',
      signer.amzDate,
      signer.scope,
      previous,
      EMPTY_SHA256,
      hash.digest('hex'),
    ].join('\n');
    const expected = hmacHex(signer.signingKey, toSign);
    if (!signaturesEqual(expected, signature)) {
      throw storageError('SignatureDoesNotMatch', 'The chunk signature does not match.');
    }
    previous = signature;
  }

  for (;;) {
    const header = await line();
    const [sizeHex, ...extensions] = header.split(';');
    if (!sizeHex || !/^[0-9a-fA-F]{1,16}$/.test(sizeHex.trim()))
      throw bad('aws-chunked chunk size is malformed');
    const size = parseInt(sizeHex.trim(), 16);
    const signature = extensions
      .map((e) => e.trim())
      .find((e) => e.startsWith('chunk-signature='))
      ?.slice('chunk-signature='.length);
    const hash = createHash('sha256');
    let left = size;
    while (left > 0) {
      if (pending.length === 0 && !(await more())) throw bad('aws-chunked body ended inside a chunk');
      const take = Math.min(left, pending.length);
      const piece = pending.subarray(0, take);
      pending = pending.subarray(take);
      left -= take;
      if (signer) hash.update(piece);
      yield piece;
    }
    if (size === 0) {
      check(hash, signature);
      if (options.trailer) {
        // trailing headers (e.g. x-amz-checksum-crc32) up to an empty line
        for (let i = 0; i < 64; i++) {
          if (pending.length === 0 && ended) return;
          if ((await line()) === '') return;
        }
        throw bad('too many aws-chunked trailers');
      }
      if (pending.length === 0) await more();
      if (pending.length >= 2 && pending.subarray(0, 2).toString() === '\r\n') pending = pending.subarray(2);
      return;
    }
    while (pending.length < 2) {
      if (!(await more())) throw bad('aws-chunked chunk is not terminated');
    }
    if (pending[0] !== 0x0d || pending[1] !== 0x0a) throw bad('aws-chunked chunk is not terminated');
    pending = pending.subarray(2);
    check(hash, signature);
  }
}
