/**
 * The S3 API, path-style (/bucket/key), on the same port and data as Swift. A request is S3
 * when it carries Signature V4 (header or presigned query); it is authenticated before
 * anything else, and acts in the account of its access key's project (bucket = container).
 */
import { createHash } from 'node:crypto';
import type { Logger } from '@strato/log';
import { decodeAwsChunked } from '../auth/aws-chunked';
import { parseSigV2Presign, verifySigV2Presign } from '../auth/sigv2';
import type { CredentialResolver, S3Credential } from '../auth/credentials';
import {
  STREAMING_SIGNED,
  STREAMING_SIGNED_TRAILER,
  STREAMING_UNSIGNED_TRAILER,
  UNSIGNED_PAYLOAD,
  checkTime,
  parseSigV4,
  scopeOf,
  sha256Hex,
  verifySigV4,
  type SigV4Auth,
} from '../auth/sigv4';
import { evaluateConditions } from '../domain/conditions';
import { storageError } from '../domain/errors';
import type { ListEntry } from '../domain/listing';
import { checkBucketName, checkObjectName, decodePathComponent, isValidBucketName } from '../domain/names';
import type { ObjectRef, ObjectStoreService } from '../domain/object-store.service';
import type { ObjectRecord, UploadRecord } from '../domain/records';
import { parseCompleteRequest, parseDeleteRequest } from './s3-xml';
import {
  declaredLength,
  discardBody,
  header,
  httpDate,
  sendObject,
  status,
  userMeta,
  xmlEscape,
  type ObjectRequest,
  type ObjectResponse,
} from './common';

export interface S3RouterDeps {
  store: ObjectStoreService;
  credentials: CredentialResolver;
  limits: { maxObjectSize: number; maxManifestBytes: number };
  region: string;
  log: Logger;
  now?: () => number;
}

/** What a V2-presigned request looks like to the rest of the router: no payload signature. */
const UNSIGNED_V2: SigV4Auth = {
  accessKey: '',
  date: '',
  region: '',
  service: 's3',
  signedHeaders: [],
  signature: '',
  amzDate: '',
  payloadHash: UNSIGNED_PAYLOAD,
  presigned: true,
};

const XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';
const XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n';

/** A request's URL split once by the caller: raw path, parsed and raw query. */
export interface SplitUrl {
  path: string;
  query: URLSearchParams;
  rawQuery: string;
}

interface S3Context {
  req: ObjectRequest;
  res: ObjectResponse;
  query: URLSearchParams;
  account: string;
  cred: S3Credential;
  auth: SigV4Auth;
  signingKey: Buffer;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function sendXml(res: ObjectResponse, code: number, xml: string): void {
  const body = XML_HEAD + xml;
  res.statusCode = code;
  res.setHeader('Content-Type', 'application/xml');
  res.setHeader('Content-Length', String(Buffer.byteLength(body)));
  res.end(body);
}

function el(name: string, value: string | number | boolean): string {
  return `<${name}>${xmlEscape(String(value))}</${name}>`;
}

/** S3's encoding-type=url: percent-encoded, '/' kept. */
function urlEncodeKey(s: string): string {
  return encodeURIComponent(s).replace(/%2F/g, '/');
}

function owner(cred: S3Credential): string {
  return `<Owner>${el('ID', cred.projectId)}${el('DisplayName', cred.projectId)}</Owner>`;
}

/** The one ACL there is: the owning project's full control. */
function accessControlPolicy(cred: S3Credential): string {
  return `<AccessControlPolicy xmlns="${XMLNS}">${owner(cred)}<AccessControlList><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser">${el('ID', cred.projectId)}</Grantee><Permission>FULL_CONTROL</Permission></Grant></AccessControlList></AccessControlPolicy>`;
}

/** Bucket sub-resources: none can be set here; GET answers location, versioning, acl, uploads. */
const BUCKET_SUBRESOURCES = [
  'acl',
  'versioning',
  'tagging',
  'policy',
  'cors',
  'lifecycle',
  'website',
  'encryption',
  'replication',
  'logging',
  'notification',
  'object-lock',
  'accelerate',
  'requestPayment',
  'ownershipControls',
  'publicAccessBlock',
];

/** Object sub-resources this store does not have (acl is read-only: see objectAcl). */
const OBJECT_SUBRESOURCES = [
  'acl',
  'tagging',
  'retention',
  'legal-hold',
  'torrent',
  'attributes',
  'restore',
  'select',
];

function quoted(etag: string): string {
  return `"${etag}"`;
}

function maxKeys(query: URLSearchParams, name: string, fallback = 1000): number {
  const raw = query.get(name);
  if (raw === null) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0)
    throw storageError('InvalidArgument', `Argument ${name} must be an integer between 0 and 2147483647`);
  return Math.min(n, 1000);
}

/**
 * The S3 API as a plain node:http handler for requests the caller found to be S3 (see
 * looksLikeS3); it rejects with the error to render.
 */
export function s3Handler(
  deps: S3RouterDeps,
): (req: ObjectRequest, res: ObjectResponse, url: SplitUrl) => Promise<void> {
  const { store, credentials, limits } = deps;
  const now = deps.now ?? Date.now;

  async function handle(req: ObjectRequest, res: ObjectResponse, url: SplitUrl): Promise<void> {
    {
      const { path, query, rawQuery } = url;
      req.objectApi = 's3';
      req.s3Resource = safeResource(path);
      const signed = { method: req.method, rawPath: path, rawQuery, headers: req.headers };
      let auth: SigV4Auth;
      let cred: S3Credential;
      let signingKey: Buffer;
      if (query.has('AWSAccessKeyId') && !req.headers.authorization) {
        const v2 = parseSigV2Presign(query);
        cred = await credentialOf(v2.accessKey);
        verifySigV2Presign(signed, query, v2, cred.secret, now());
        auth = { ...UNSIGNED_V2, accessKey: v2.accessKey };
        signingKey = Buffer.alloc(0);
      } else {
        auth = parseSigV4(signed, query);
        cred = await credentialOf(auth.accessKey);
        signingKey = verifySigV4(signed, auth, cred.secret);
        checkTime(auth, now());
      }
      const ctx: S3Context = { req, res, query, account: `AUTH_${cred.projectId}`, cred, auth, signingKey };
      const segments = path.slice(1);
      const slash = segments.indexOf('/');
      const bucketRaw = slash < 0 ? segments : segments.slice(0, slash);
      const keyRaw = slash < 0 ? '' : segments.slice(slash + 1);
      if (bucketRaw === '') {
        if (req.method !== 'GET')
          throw storageError(
            'MethodNotAllowed',
            'The specified method is not allowed against this resource.',
          );
        await listBuckets(ctx);
        return;
      }
      const bucket = decodePathComponent(bucketRaw);
      if (keyRaw === '') {
        await bucketRequest(ctx, bucket);
        return;
      }
      const key = checkObjectName(decodePathComponent(keyRaw));
      await objectRequest(ctx, { account: ctx.account, container: bucket, name: key });
    }
  }

  async function credentialOf(accessKey: string): Promise<S3Credential> {
    const cred = await credentials.lookup(accessKey);
    if (!cred) {
      throw storageError(
        'InvalidAccessKeyId',
        'The AWS Access Key Id you provided does not exist in our records.',
      );
    }
    return cred;
  }

  function safeResource(path: string): string {
    try {
      return decodeURIComponent(path);
    } catch {
      return path;
    }
  }

  /** The request body as the client meant it: aws-chunked decoded, signatures and hashes checked. */
  function payload(ctx: S3Context): { body: AsyncIterable<Uint8Array>; length?: number; sha256Hex?: string } {
    const { req, auth } = ctx;
    const hash = auth.payloadHash;
    if (
      hash === STREAMING_SIGNED ||
      hash === STREAMING_SIGNED_TRAILER ||
      hash === STREAMING_UNSIGNED_TRAILER
    ) {
      const decoded = header(req, 'x-amz-decoded-content-length');
      if (decoded === undefined || !/^\d+$/.test(decoded)) {
        throw storageError(
          'MissingContentLength',
          'You must provide the x-amz-decoded-content-length header.',
        );
      }
      const signer =
        hash === STREAMING_UNSIGNED_TRAILER
          ? undefined
          : {
              signingKey: ctx.signingKey,
              amzDate: auth.amzDate,
              scope: scopeOf(auth),
              seedSignature: auth.signature,
            };
      return {
        body: decodeAwsChunked(req, signer, { trailer: hash !== STREAMING_SIGNED }),
        length: Number(decoded),
      };
    }
    if (hash === UNSIGNED_PAYLOAD) return { body: req, length: declaredLength(req) };
    if (!/^[0-9a-f]{64}$/i.test(hash)) {
      throw storageError(
        'InvalidArgument',
        'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a STREAMING-* value or a SHA-256 hex digest.',
      );
    }
    return { body: req, length: declaredLength(req), sha256Hex: hash };
  }

  async function smallBody(ctx: S3Context): Promise<string> {
    const p = payload(ctx);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of p.body) {
      size += c.length;
      if (size > limits.maxManifestBytes)
        throw storageError('EntityTooLarge', 'The request body is too large');
      chunks.push(Buffer.from(c));
    }
    const body = Buffer.concat(chunks);
    if (p.sha256Hex && sha256Hex(body) !== p.sha256Hex.toLowerCase()) {
      throw storageError(
        'XAmzContentSHA256Mismatch',
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
      );
    }
    checkContentMd5(ctx.req, body);
    return body.toString('utf8');
  }

  function contentMd5(req: ObjectRequest): string | undefined {
    const raw = header(req, 'content-md5');
    if (raw === undefined) return undefined;
    const bytes = Buffer.from(raw, 'base64');
    if (bytes.length !== 16)
      throw storageError('InvalidDigest', 'The Content-MD5 you specified was invalid.');
    return bytes.toString('hex');
  }

  function checkContentMd5(req: ObjectRequest, body: Buffer): void {
    const want = contentMd5(req);
    if (want !== undefined && createHash('md5').update(body).digest('hex') !== want) {
      throw storageError('BadDigest', 'The Content-MD5 you specified did not match what we received.');
    }
  }

  // service

  async function listBuckets(ctx: S3Context): Promise<void> {
    const buckets: string[] = [];
    let marker: string | undefined;
    for (;;) {
      const page = await store.listContainers(ctx.account, { marker, limit: 1000 });
      for (const e of page.entries) {
        if (e.kind === 'item' && isValidBucketName(e.item.name)) {
          buckets.push(
            `<Bucket>${el('Name', e.item.name)}${el('CreationDate', iso(e.item.createdAt))}</Bucket>`,
          );
        }
      }
      const last = page.entries[page.entries.length - 1];
      if (!page.truncated || !last || last.kind !== 'item') break;
      marker = last.item.name;
    }
    sendXml(
      ctx.res,
      200,
      `<ListAllMyBucketsResult xmlns="${XMLNS}">${owner(ctx.cred)}<Buckets>${buckets.join('')}</Buckets></ListAllMyBucketsResult>`,
    );
  }

  // buckets

  async function bucketRequest(ctx: S3Context, bucket: string): Promise<void> {
    const { req, res, query, account } = ctx;
    // Setting or removing a bucket's sub-resource must not create or delete the bucket.
    const sub = BUCKET_SUBRESOURCES.find((name) => query.has(name));
    if (sub && (req.method === 'PUT' || req.method === 'DELETE')) {
      await discardBody(req);
      throw storageError('NotImplemented', `The ${sub} subresource is not implemented.`);
    }
    switch (req.method) {
      case 'PUT': {
        checkBucketName(bucket);
        await discardBody(req);
        const created = await store.createContainer(account, bucket);
        if (!created)
          throw storageError(
            'BucketAlreadyOwnedByYou',
            'Your previous request to create the named bucket succeeded and you already own it.',
          );
        res.setHeader('Location', `/${bucket}`);
        status(res, 200).end();
        return;
      }
      case 'HEAD':
        await store.container(account, bucket);
        res.setHeader('x-amz-bucket-region', deps.region);
        status(res, 200).end();
        return;
      case 'DELETE':
        await store.deleteContainer(account, bucket);
        status(res, 204).end();
        return;
      case 'POST':
        if (query.has('delete')) {
          await deleteObjects(ctx, bucket);
          return;
        }
        throw storageError('MethodNotAllowed', 'The specified method is not allowed against this resource.');
      case 'GET':
        await store.container(account, bucket);
        if (query.has('location')) {
          sendXml(
            res,
            200,
            `<LocationConstraint xmlns="${XMLNS}">${deps.region === 'us-east-1' ? '' : xmlEscape(deps.region)}</LocationConstraint>`,
          );
          return;
        }
        if (query.has('versioning')) {
          sendXml(res, 200, `<VersioningConfiguration xmlns="${XMLNS}"/>`);
          return;
        }
        if (query.has('acl')) {
          sendXml(res, 200, accessControlPolicy(ctx.cred));
          return;
        }
        if (query.has('uploads')) {
          await listUploads(ctx, bucket);
          return;
        }
        // location, versioning, acl and uploads are answered above.
        if (sub) throw storageError('NotImplemented', `The ${sub} subresource is not implemented.`);
        await listObjects(ctx, bucket, query.get('list-type') === '2');
        return;
      default:
        throw storageError('MethodNotAllowed', 'The specified method is not allowed against this resource.');
    }
  }

  async function listObjects(ctx: S3Context, bucket: string, v2: boolean): Promise<void> {
    const { query, res, account } = ctx;
    const prefix = query.get('prefix') ?? '';
    const delimiter = query.get('delimiter') ?? '';
    const limit = maxKeys(query, 'max-keys');
    const urlEncoding = query.get('encoding-type') === 'url';
    if (query.has('encoding-type') && !urlEncoding)
      throw storageError('InvalidArgument', 'Invalid Encoding Method specified in Request');
    const enc = (s: string) => (urlEncoding ? urlEncodeKey(s) : s);
    let marker: string | undefined;
    const token = query.get('continuation-token');
    if (v2) {
      if (token !== null) {
        marker = Buffer.from(token, 'base64url').toString('utf8');
        if (token === '' || marker === '')
          throw storageError('InvalidArgument', 'The continuation token provided is incorrect');
      } else {
        marker = query.get('start-after') || undefined;
      }
    } else {
      marker = query.get('marker') || undefined;
    }
    const listing = await store.listObjects(account, bucket, {
      prefix,
      delimiter: delimiter || undefined,
      marker,
      limit,
    });
    const contents: string[] = [];
    const prefixes: string[] = [];
    for (const e of listing.entries) {
      if (e.kind === 'prefix')
        prefixes.push(`<CommonPrefixes>${el('Prefix', enc(e.prefix))}</CommonPrefixes>`);
      else contents.push(objectXml(e.item, enc, v2 ? '' : owner(ctx.cred)));
    }
    const last = lastName(listing.entries);
    const head = [
      el('Name', bucket),
      el('Prefix', enc(prefix)),
      ...(delimiter ? [el('Delimiter', enc(delimiter))] : []),
      el('MaxKeys', limit),
      ...(urlEncoding ? [el('EncodingType', 'url')] : []),
      el('IsTruncated', listing.truncated),
    ];
    if (v2) {
      head.push(el('KeyCount', listing.entries.length));
      if (token !== null) head.push(el('ContinuationToken', token));
      if (query.has('start-after')) head.push(el('StartAfter', enc(query.get('start-after')!)));
      if (listing.truncated && last !== undefined) {
        head.push(el('NextContinuationToken', Buffer.from(last).toString('base64url')));
      }
    } else {
      head.push(el('Marker', enc(marker ?? '')));
      if (listing.truncated && last !== undefined) head.push(el('NextMarker', enc(last)));
    }
    sendXml(
      res,
      200,
      `<ListBucketResult xmlns="${XMLNS}">${head.join('')}${contents.join('')}${prefixes.join('')}</ListBucketResult>`,
    );
  }

  function lastName<T extends { name: string }>(entries: ListEntry<T>[]): string | undefined {
    const last = entries[entries.length - 1];
    if (!last) return undefined;
    return last.kind === 'prefix' ? last.prefix : last.item.name;
  }

  function objectXml(o: ObjectRecord, enc: (s: string) => string, ownerXml: string): string {
    return `<Contents>${el('Key', enc(o.name))}${el('LastModified', iso(o.lastModified))}${el('ETag', quoted(o.etag))}${el('Size', o.size)}${ownerXml}<StorageClass>STANDARD</StorageClass></Contents>`;
  }

  async function deleteObjects(ctx: S3Context, bucket: string): Promise<void> {
    await store.container(ctx.account, bucket);
    const { keys, quiet } = parseDeleteRequest(await smallBody(ctx));
    const results: string[] = [];
    for (const key of keys) {
      try {
        await store.deleteObject({ account: ctx.account, container: bucket, name: checkObjectName(key) });
        if (!quiet) results.push(`<Deleted>${el('Key', key)}</Deleted>`);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === 'NoSuchKey') {
          if (!quiet) results.push(`<Deleted>${el('Key', key)}</Deleted>`);
        } else {
          results.push(
            `<Error>${el('Key', key)}${el('Code', code ?? 'InternalError')}${el('Message', code ? (err as Error).message : 'We encountered an internal error.')}</Error>`,
          );
        }
      }
    }
    sendXml(ctx.res, 200, `<DeleteResult xmlns="${XMLNS}">${results.join('')}</DeleteResult>`);
  }

  async function listUploads(ctx: S3Context, bucket: string): Promise<void> {
    const { query } = ctx;
    const prefix = query.get('prefix') ?? '';
    const limit = maxKeys(query, 'max-uploads');
    const listing = await store.listUploads(ctx.account, bucket, {
      prefix,
      delimiter: query.get('delimiter') || undefined,
      marker: query.get('key-marker') || undefined,
      limit,
    });
    const uploads = listing.entries.map((e: ListEntry<UploadRecord>) =>
      e.kind === 'prefix'
        ? `<CommonPrefixes>${el('Prefix', e.prefix)}</CommonPrefixes>`
        : `<Upload>${el('Key', e.item.name)}${el('UploadId', e.item.uploadId)}<Initiator>${el('ID', ctx.cred.userId)}${el('DisplayName', ctx.cred.userId)}</Initiator>${owner(ctx.cred)}<StorageClass>STANDARD</StorageClass>${el('Initiated', iso(e.item.createdAt))}</Upload>`,
    );
    const last = listing.entries[listing.entries.length - 1];
    const next =
      listing.truncated && last?.kind === 'item'
        ? el('NextKeyMarker', last.item.name) + el('NextUploadIdMarker', last.item.uploadId)
        : '';
    sendXml(
      ctx.res,
      200,
      `<ListMultipartUploadsResult xmlns="${XMLNS}">${el('Bucket', bucket)}${el('KeyMarker', query.get('key-marker') ?? '')}${el('UploadIdMarker', query.get('upload-id-marker') ?? '')}${next}${el('Prefix', prefix)}${el('MaxUploads', limit)}${el('IsTruncated', listing.truncated)}${uploads.join('')}</ListMultipartUploadsResult>`,
    );
  }

  // objects

  async function objectRequest(ctx: S3Context, ref: ObjectRef): Promise<void> {
    const { req, query } = ctx;
    const uploadId = query.get('uploadId');
    // An object's sub-resources are not the object: PUT ?acl must not overwrite its data with
    // the ACL document, nor DELETE ?tagging remove it.
    const sub = OBJECT_SUBRESOURCES.find((name) => query.has(name));
    if (sub === 'acl' && (req.method === 'GET' || req.method === 'HEAD')) {
      await objectAcl(ctx, ref);
      return;
    }
    if (sub) {
      await discardBody(req);
      throw storageError('NotImplemented', `The ${sub} subresource is not implemented.`);
    }
    switch (req.method) {
      case 'PUT':
        if (uploadId !== null) {
          await uploadPart(ctx, ref, uploadId);
          return;
        }
        if (header(req, 'x-amz-copy-source')) {
          await copyObject(ctx, ref);
          return;
        }
        await putObject(ctx, ref);
        return;
      case 'GET':
      case 'HEAD':
        if (uploadId !== null && req.method === 'GET') {
          await listParts(ctx, ref, uploadId);
          return;
        }
        await getObject(ctx, ref);
        return;
      case 'DELETE':
        if (uploadId !== null) {
          await store.abortUpload(ref, uploadId);
          status(ctx.res, 204).end();
          return;
        }
        await store.container(ref.account, ref.container);
        await store.deleteObject(ref).catch((err: unknown) => {
          if ((err as { code?: string }).code !== 'NoSuchKey') throw err;
        });
        status(ctx.res, 204).end();
        return;
      case 'POST':
        if (query.has('uploads')) {
          await discardBody(req);
          await store.container(ref.account, ref.container);
          const upload = await store.createUpload(
            ref,
            header(req, 'content-type') ?? '',
            userMeta(req, 'x-amz-meta-'),
          );
          sendXml(
            ctx.res,
            200,
            `<InitiateMultipartUploadResult xmlns="${XMLNS}">${el('Bucket', ref.container)}${el('Key', ref.name)}${el('UploadId', upload.uploadId)}</InitiateMultipartUploadResult>`,
          );
          return;
        }
        if (uploadId !== null) {
          const parts = parseCompleteRequest(await smallBody(ctx));
          const record = await store.completeUpload(ref, uploadId, parts);
          sendXml(
            ctx.res,
            200,
            `<CompleteMultipartUploadResult xmlns="${XMLNS}">${el('Location', `/${ref.container}/${ref.name}`)}${el('Bucket', ref.container)}${el('Key', ref.name)}${el('ETag', quoted(record.etag))}</CompleteMultipartUploadResult>`,
          );
          return;
        }
        throw storageError('MethodNotAllowed', 'The specified method is not allowed against this resource.');
      default:
        throw storageError('MethodNotAllowed', 'The specified method is not allowed against this resource.');
    }
  }

  /** The owner's full control, as for a bucket: objects have no ACLs of their own here. */
  async function objectAcl(ctx: S3Context, ref: ObjectRef): Promise<void> {
    await store.head(ref).catch(async (err: unknown) => {
      await store.container(ref.account, ref.container);
      throw err;
    });
    sendXml(ctx.res, 200, accessControlPolicy(ctx.cred));
  }

  async function putObject(ctx: S3Context, ref: ObjectRef): Promise<void> {
    const { req, res } = ctx;
    const p = payload(ctx);
    if (p.length === undefined && header(req, 'transfer-encoding') === undefined) {
      throw storageError('MissingContentLength', 'You must provide the Content-Length HTTP header.');
    }
    const record = await store.putObject(ref, p.body, {
      length: p.length,
      md5Hex: contentMd5(req),
      sha256Hex: p.sha256Hex,
      contentType: header(req, 'content-type') ?? '',
      meta: userMeta(req, 'x-amz-meta-'),
    });
    res.setHeader('ETag', quoted(record.etag));
    status(res, 200).end();
  }

  async function uploadPart(ctx: S3Context, ref: ObjectRef, uploadId: string): Promise<void> {
    const { req, res, query } = ctx;
    const partNumber = Number(query.get('partNumber'));
    if (header(req, 'x-amz-copy-source')) {
      throw storageError('NotImplemented', 'UploadPartCopy is not implemented.');
    }
    const p = payload(ctx);
    const part = await store.uploadPart(ref, uploadId, partNumber, p.body, {
      length: p.length,
      md5Hex: contentMd5(req),
      sha256Hex: p.sha256Hex,
    });
    res.setHeader('ETag', quoted(part.etag));
    status(res, 200).end();
  }

  async function listParts(ctx: S3Context, ref: ObjectRef, uploadId: string): Promise<void> {
    const { query } = ctx;
    const limit = maxKeys(query, 'max-parts');
    const after = Number(query.get('part-number-marker') ?? 0) || 0;
    const parts = await store.listParts(ref, uploadId, after, limit + 1);
    const truncated = parts.length > limit;
    const shown = parts.slice(0, limit);
    const items = shown.map(
      (p) =>
        `<Part>${el('PartNumber', p.partNumber)}${el('LastModified', iso(p.lastModified))}${el('ETag', quoted(p.etag))}${el('Size', p.size)}</Part>`,
    );
    const next = truncated ? el('NextPartNumberMarker', shown[shown.length - 1]!.partNumber) : '';
    sendXml(
      ctx.res,
      200,
      `<ListPartsResult xmlns="${XMLNS}">${el('Bucket', ref.container)}${el('Key', ref.name)}${el('UploadId', uploadId)}<Initiator>${el('ID', ctx.cred.userId)}${el('DisplayName', ctx.cred.userId)}</Initiator>${owner(ctx.cred)}<StorageClass>STANDARD</StorageClass>${el('PartNumberMarker', after)}${next}${el('MaxParts', limit)}${el('IsTruncated', truncated)}${items.join('')}</ListPartsResult>`,
    );
  }

  async function copyObject(ctx: S3Context, ref: ObjectRef): Promise<void> {
    const { req, res } = ctx;
    await discardBody(req);
    const source = decodePathComponent(header(req, 'x-amz-copy-source')!.split('?')[0]!);
    const trimmed = source.startsWith('/') ? source.slice(1) : source;
    const at = trimmed.indexOf('/');
    if (at <= 0 || at === trimmed.length - 1) {
      throw storageError(
        'InvalidArgument',
        'Copy Source must mention the source bucket and key: sourcebucket/sourcekey',
      );
    }
    const from: ObjectRef = {
      account: ctx.account,
      container: trimmed.slice(0, at),
      name: checkObjectName(trimmed.slice(at + 1)),
    };
    const replace = (header(req, 'x-amz-metadata-directive') ?? 'COPY').toUpperCase() === 'REPLACE';
    const record = await store.copyObject(from, ref, (view) => ({
      contentType: replace ? (header(req, 'content-type') ?? '') : view.record.contentType,
      meta: replace ? userMeta(req, 'x-amz-meta-') : view.record.meta,
    }));
    sendXml(
      res,
      200,
      `<CopyObjectResult xmlns="${XMLNS}">${el('LastModified', iso(record.lastModified))}${el('ETag', quoted(record.etag))}</CopyObjectResult>`,
    );
  }

  async function getObject(ctx: S3Context, ref: ObjectRef): Promise<void> {
    const { req, res, query } = ctx;
    // An object exists only in an existing bucket: the bucket is looked up only to tell a
    // missing bucket (NoSuchBucket) from a missing key.
    const view = await store.head(ref).catch(async (err: unknown) => {
      await store.container(ref.account, ref.container);
      throw err;
    });
    const rec = view.record;
    const outcome = evaluateConditions(
      {
        ifMatch: header(req, 'if-match'),
        ifNoneMatch: header(req, 'if-none-match'),
        ifModifiedSince: header(req, 'if-modified-since'),
        ifUnmodifiedSince: header(req, 'if-unmodified-since'),
      },
      { etag: view.etag, lastModifiedMs: rec.lastModified },
      req.method,
    );
    res.setHeader('ETag', quoted(view.etag));
    res.setHeader('Last-Modified', httpDate(rec.lastModified));
    if (outcome === 'not-modified') {
      status(res, 304).end();
      return;
    }
    if (outcome === 'failed')
      throw storageError(
        'PreconditionFailed',
        'At least one of the pre-conditions you specified did not hold',
      );
    for (const [k, v] of Object.entries(rec.meta)) res.setHeader(`x-amz-meta-${k}`, v);
    res.setHeader('Content-Type', query.get('response-content-type') ?? rec.contentType);
    for (const [param, header] of [
      ['response-content-disposition', 'Content-Disposition'],
      ['response-content-encoding', 'Content-Encoding'],
      ['response-content-language', 'Content-Language'],
      ['response-cache-control', 'Cache-Control'],
      ['response-expires', 'Expires'],
    ] as const) {
      const v = query.get(param);
      if (v !== null) res.setHeader(header, v);
    }
    await sendObject(req, res, store, view, 'The requested range is not satisfiable');
  }

  return handle;
}
