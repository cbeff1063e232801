/**
 * Swift v1 API (as python-swiftclient and openstacksdk use it) under /v1/AUTH_<project>/…,
 * plus GET /info. Parses the raw path itself so object names keep every byte the client sent.
 */
import { isAdmin, type TokenService } from '@strato/auth';
import { forbidden, unauthorized } from '@strato/errors';
import { evaluateConditions } from '../domain/conditions';
import { storageError } from '../domain/errors';
import type { ListEntry } from '../domain/listing';
import { checkContainerName, checkObjectName, decodePathComponent } from '../domain/names';
import type { ObjectRef, ObjectStoreService, ObjectView } from '../domain/object-store.service';
import type { ContainerRecord, ObjectRecord, SloSegment } from '../domain/records';
import {
  declaredLength,
  discardBody,
  hasBody,
  header,
  httpDate,
  listingDate,
  metaPatch,
  readSmallBody,
  sendObject,
  sendJson,
  splitUrl,
  status,
  swiftTimestamp,
  userMeta,
  xmlEscape,
  type ObjectRequest,
  type ObjectResponse,
} from './common';

export interface SwiftRouterDeps {
  store: ObjectStoreService;
  tokens: Pick<TokenService, 'verify'>;
  limits: { maxObjectSize: number; maxManifestBytes: number; maxSegments: number; minPartSize: number };
}

const LISTING_LIMIT = 10000;

interface SwiftTarget {
  account: string;
  container?: string;
  object?: string;
}

function parseTarget(rawPath: string): SwiftTarget {
  const rest = rawPath.slice('/v1/'.length);
  const a = rest.indexOf('/');
  const account = decodePathComponent(a < 0 ? rest : rest.slice(0, a));
  if (a < 0 || a === rest.length - 1) return { account };
  const afterAccount = rest.slice(a + 1);
  const c = afterAccount.indexOf('/');
  const container = checkContainerName(decodePathComponent(c < 0 ? afterAccount : afterAccount.slice(0, c)));
  if (c < 0 || c === afterAccount.length - 1) return { account, container };
  return { account, container, object: checkObjectName(decodePathComponent(afterAccount.slice(c + 1))) };
}

/** What GET /info answers (Swift's capabilities). */
export function swiftInfo(limits: SwiftRouterDeps['limits']): Record<string, unknown> {
  return {
    swift: {
      version: '2.30.0',
      max_file_size: limits.maxObjectSize,
      max_object_name_length: 1024,
      max_container_name_length: 256,
      container_listing_limit: LISTING_LIMIT,
      account_listing_limit: LISTING_LIMIT,
      max_meta_count: 90,
      max_meta_name_length: 128,
      max_meta_value_length: 256,
      max_meta_overall_size: 4096,
      strict_cors_mode: true,
      policies: [{ name: 'Policy-0', default: true }],
    },
    slo: {
      max_manifest_segments: limits.maxSegments,
      max_manifest_size: limits.maxManifestBytes,
      min_segment_size: 1,
      yield_frequency: 10,
    },
  };
}

/**
 * The Swift API as a plain node:http handler for requests under /v1/ (the caller routes
 * them here); it rejects with the error to render.
 */
export function swiftHandler(
  deps: SwiftRouterDeps,
): (req: ObjectRequest, res: ObjectResponse) => Promise<void> {
  const { store, tokens, limits } = deps;

  async function handle(req: ObjectRequest, res: ObjectResponse): Promise<void> {
    req.objectApi = 'swift';
    const { path, query } = splitUrl(req.url ?? '/');
    const target = parseTarget(path);
    await authorize(req, target.account);
    const ctx: SwiftContext = { req, res, query, account: target.account };
    if (target.object !== undefined) {
      await objectRequest(ctx, {
        account: target.account,
        container: target.container!,
        name: target.object,
      });
    } else if (target.container !== undefined) {
      await containerRequest(ctx, target.container);
    } else {
      await accountRequest(ctx);
    }
  }

  async function authorize(req: ObjectRequest, account: string): Promise<void> {
    const token = header(req, 'x-auth-token') ?? header(req, 'x-storage-token');
    if (!token) throw unauthorized();
    const claims = await tokens.verify(token);
    if (!account.startsWith('AUTH_')) throw storageError('NoSuchBucket', 'No such account');
    if (isAdmin(claims)) return;
    if (!claims.project || `AUTH_${claims.project.id}` !== account) throw forbidden();
  }

  interface SwiftContext {
    req: ObjectRequest;
    res: ObjectResponse;
    query: URLSearchParams;
    account: string;
  }

  // account

  async function accountRequest(ctx: SwiftContext): Promise<void> {
    const { req, res, account, query } = ctx;
    switch (req.method) {
      case 'HEAD':
      case 'GET': {
        const info = await store.account(account);
        res.setHeader('X-Account-Container-Count', String(info.containerCount));
        res.setHeader('X-Account-Object-Count', String(info.objectCount));
        res.setHeader('X-Account-Bytes-Used', String(info.bytesUsed));
        res.setHeader('X-Timestamp', swiftTimestamp(info.createdAt));
        res.setHeader('X-Put-Timestamp', swiftTimestamp(info.createdAt));
        for (const [k, v] of Object.entries(info.meta)) res.setHeader(`X-Account-Meta-${k}`, v);
        if (req.method === 'HEAD') {
          status(res, 204).end();
          return;
        }
        const listing = await store.listContainers(account, listingRequest(query));
        sendListing(
          ctx,
          listing.entries,
          (c: ContainerRecord) => ({
            name: c.name,
            count: c.objectCount,
            bytes: c.bytesUsed,
            last_modified: listingDate(c.modifiedAt),
          }),
          'account',
          account,
        );
        return;
      }
      case 'POST':
        await store.setAccountMeta(account, metaPatch(req, 'x-account-meta-', 'x-remove-account-meta-'));
        status(res, 204).end();
        return;
      default:
        throw storageError('MethodNotAllowed', 'Method Not Allowed');
    }
  }

  // container

  async function containerRequest(ctx: SwiftContext, container: string): Promise<void> {
    const { req, res, account, query } = ctx;
    switch (req.method) {
      case 'PUT': {
        const created = await store.createContainer(
          account,
          container,
          metaPatch(req, 'x-container-meta-', 'x-remove-container-meta-'),
        );
        status(res, created ? 201 : 202).end();
        return;
      }
      case 'HEAD':
      case 'GET': {
        const info = await store.container(account, container);
        res.setHeader('X-Container-Object-Count', String(info.objectCount));
        res.setHeader('X-Container-Bytes-Used', String(info.bytesUsed));
        res.setHeader('X-Timestamp', swiftTimestamp(info.createdAt));
        res.setHeader('X-Put-Timestamp', swiftTimestamp(info.createdAt));
        res.setHeader('Last-Modified', httpDate(info.modifiedAt));
        res.setHeader('X-Storage-Policy', 'Policy-0');
        for (const [k, v] of Object.entries(info.meta)) res.setHeader(`X-Container-Meta-${k}`, v);
        if (req.method === 'HEAD') {
          status(res, 204).end();
          return;
        }
        const listing = await store.listObjects(account, container, {
          ...listingRequest(query),
          delimiter: query.get('delimiter') ?? undefined,
        });
        sendListing(ctx, listing.entries, objectListingEntry, 'container', container);
        return;
      }
      case 'POST':
        await store.setContainerMeta(
          account,
          container,
          metaPatch(req, 'x-container-meta-', 'x-remove-container-meta-'),
        );
        status(res, 204).end();
        return;
      case 'DELETE':
        await store.deleteContainer(account, container);
        status(res, 204).end();
        return;
      default:
        throw storageError('MethodNotAllowed', 'Method Not Allowed');
    }
  }

  function listingRequest(query: URLSearchParams) {
    const rawLimit = query.get('limit');
    let limit = LISTING_LIMIT;
    if (rawLimit !== null) {
      limit = Number(rawLimit);
      if (!Number.isInteger(limit) || limit < 0) throw storageError('InvalidArgument', 'Invalid limit');
      if (limit > LISTING_LIMIT) {
        throw storageError('PreconditionFailed', `Maximum limit is ${LISTING_LIMIT}`);
      }
    }
    const reverse = ['true', '1', 'yes', 'on', 't', 'y'].includes((query.get('reverse') ?? '').toLowerCase());
    return {
      prefix: query.get('prefix') ?? undefined,
      marker: query.get('marker') ?? undefined,
      endMarker: query.get('end_marker') ?? undefined,
      limit,
      reverse,
    };
  }

  function listingFormat(req: ObjectRequest, query: URLSearchParams): 'json' | 'xml' | 'plain' {
    const f = query.get('format')?.toLowerCase();
    if (f === 'json' || f === 'xml' || f === 'plain') return f;
    const accept = header(req, 'accept') ?? '';
    if (accept.includes('application/json')) return 'json';
    if (accept.includes('application/xml') || accept.includes('text/xml')) return 'xml';
    return 'plain';
  }

  function sendListing<T extends { name: string }>(
    ctx: SwiftContext,
    entries: ListEntry<T>[],
    toJson: (item: T) => Record<string, unknown>,
    root: 'account' | 'container',
    rootName: string,
  ): void {
    const { req, res, query } = ctx;
    const format = listingFormat(req, query);
    if (format === 'json') {
      const body = entries.map((e) => (e.kind === 'prefix' ? { subdir: e.prefix } : toJson(e.item)));
      status(res, 200).setHeader('Content-Type', 'application/json; charset=utf-8');
      res.end(JSON.stringify(body));
      return;
    }
    if (format === 'xml') {
      const tag = root === 'account' ? 'container' : 'object';
      const items = entries.map((e) => {
        if (e.kind === 'prefix') {
          return `<subdir name="${xmlEscape(e.prefix)}"><name>${xmlEscape(e.prefix)}</name></subdir>`;
        }
        const fields = Object.entries(toJson(e.item))
          .map(([k, v]) => `<${k}>${xmlEscape(String(v))}</${k}>`)
          .join('');
        return `<${tag}>${fields}</${tag}>`;
      });
      status(res, 200).setHeader('Content-Type', 'application/xml; charset=utf-8');
      res.end(
        `<?xml version="1.0" encoding="UTF-8"?>\n<${root} name="${xmlEscape(rootName)}">${items.join('')}</${root}>`,
      );
      return;
    }
    if (entries.length === 0) {
      status(res, 204).end();
      return;
    }
    status(res, 200).setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.end(entries.map((e) => (e.kind === 'prefix' ? e.prefix : e.item.name)).join('\n') + '\n');
  }

  // object

  async function objectRequest(ctx: SwiftContext, ref: ObjectRef): Promise<void> {
    const { req, res, query } = ctx;
    switch (req.method) {
      case 'GET':
      case 'HEAD':
        await getObject(ctx, ref);
        return;
      case 'PUT':
        if (header(req, 'x-copy-from')) {
          await discardBody(req);
          await copyObject(ctx, parseCopyPath(header(req, 'x-copy-from')!, ref.account), ref);
          return;
        }
        if (query.get('multipart-manifest') === 'put') {
          await putSlo(ctx, ref);
          return;
        }
        await putObject(ctx, ref);
        return;
      case 'COPY': {
        const dest = header(req, 'destination');
        if (!dest) throw storageError('PreconditionFailed', 'You must provide a Destination header');
        const destAccount = header(req, 'destination-account') ?? ref.account;
        if (destAccount !== ref.account) await authorize(req, destAccount);
        const to = parseCopyPath(dest, destAccount);
        await copyObject(ctx, ref, to);
        return;
      }
      case 'POST': {
        const view = await store.head(ref);
        await store.setObjectMeta(
          ref,
          userMeta(req, 'x-object-meta-'),
          header(req, 'content-type') ?? view.record.contentType,
        );
        status(res, 202).setHeader('Content-Type', 'text/html; charset=UTF-8');
        res.end('<html><h1>Accepted</h1><p>The request is accepted for processing.</p></html>');
        return;
      }
      case 'DELETE':
        if (query.get('multipart-manifest') === 'delete') {
          const { deleted, notFound } = await store.deleteSlo(ref);
          const summary = {
            'Number Deleted': deleted,
            'Number Not Found': notFound,
            'Response Status': '200 OK',
            'Response Body': '',
            Errors: [],
          };
          if ((header(req, 'accept') ?? '').includes('json')) {
            sendJson(res, 200, summary);
          } else {
            status(res, 200).setHeader('Content-Type', 'text/plain');
            res.end(
              `Number Deleted: ${deleted}\nNumber Not Found: ${notFound}\nResponse Body: \nResponse Status: 200 OK\nErrors:\n`,
            );
          }
          return;
        }
        await store.deleteObject(ref);
        status(res, 204).end();
        return;
      default:
        throw storageError('MethodNotAllowed', 'Method Not Allowed');
    }
  }

  async function putObject(ctx: SwiftContext, ref: ObjectRef): Promise<void> {
    const { req, res } = ctx;
    if (!hasBody(req)) throw storageError('MissingContentLength', 'Length Required');
    const contentType = header(req, 'content-type') ?? '';
    const meta = userMeta(req, 'x-object-meta-');
    const manifest = header(req, 'x-object-manifest');
    let record: ObjectRecord;
    if (manifest !== undefined) {
      await discardBody(req);
      record = await store.putDloManifest(ref, decodePathComponent(manifest), { contentType, meta });
    } else {
      const etag = header(req, 'etag')?.replace(/"/g, '');
      if (etag !== undefined && !/^[0-9a-fA-F]{32}$/.test(etag)) {
        throw storageError('BadDigest', 'Unprocessable Entity');
      }
      record = await store.putObject(ref, req, {
        length: declaredLength(req),
        md5Hex: etag,
        contentType,
        meta,
      });
    }
    status(res, 201);
    res.setHeader('ETag', record.etag);
    res.setHeader('Last-Modified', httpDate(record.lastModified));
    res.setHeader('Content-Type', 'text/html; charset=UTF-8');
    res.setHeader('Content-Length', '0');
    res.end();
  }

  async function putSlo(ctx: SwiftContext, ref: ObjectRef): Promise<void> {
    const { req, res } = ctx;
    const raw = await readSmallBody(req, limits.maxManifestBytes);
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw.toString('utf8'));
    } catch {
      throw storageError('InvalidManifest', 'Manifest must be valid JSON.');
    }
    if (!Array.isArray(parsed)) throw storageError('InvalidManifest', 'Manifest must be a list.');
    const entries = parsed.map((e: unknown, i) => {
      const o = e as { path?: unknown; etag?: unknown; size_bytes?: unknown };
      if (typeof o !== 'object' || o === null || typeof o.path !== 'string') {
        throw storageError('InvalidManifest', `Index ${i}: "path" must be a string`);
      }
      if (o.etag !== undefined && o.etag !== null && typeof o.etag !== 'string') {
        throw storageError('InvalidManifest', `Index ${i}: "etag" must be a string or null`);
      }
      if (o.size_bytes !== undefined && o.size_bytes !== null && typeof o.size_bytes !== 'number') {
        throw storageError('InvalidManifest', `Index ${i}: "size_bytes" must be an integer or null`);
      }
      return {
        path: o.path,
        etag: o.etag,
        size_bytes: o.size_bytes as number | null,
      };
    });
    const record = await store.putSloManifest(ref, entries, {
      contentType: header(req, 'content-type') ?? '',
      meta: userMeta(req, 'x-object-meta-'),
    });
    status(res, 201);
    res.setHeader('ETag', `"${record.etag}"`);
    res.setHeader('Last-Modified', httpDate(record.lastModified));
    res.setHeader('Content-Type', 'text/html; charset=UTF-8');
    res.setHeader('Content-Length', '0');
    res.end();
  }

  async function copyObject(ctx: SwiftContext, from: ObjectRef, to: ObjectRef): Promise<void> {
    const { req, res } = ctx;
    const fresh = (header(req, 'x-fresh-metadata') ?? '').toLowerCase() === 'true';
    const overrides = userMeta(req, 'x-object-meta-');
    const record = await store.copyObject(from, to, (view) => ({
      contentType: header(req, 'content-type') ?? view.record.contentType,
      meta: fresh ? overrides : { ...view.record.meta, ...overrides },
    }));
    status(res, 201);
    res.setHeader('ETag', record.etag);
    res.setHeader('X-Copied-From', `${encodeURIComponent(from.container)}/${encodeURI(from.name)}`);
    res.setHeader('Last-Modified', httpDate(record.lastModified));
    res.setHeader('Content-Type', 'text/html; charset=UTF-8');
    res.setHeader('Content-Length', '0');
    res.end();
  }

  function parseCopyPath(value: string, account: string): ObjectRef {
    const decoded = decodePathComponent(value);
    const trimmed = decoded.startsWith('/') ? decoded.slice(1) : decoded;
    const at = trimmed.indexOf('/');
    if (at <= 0 || at === trimmed.length - 1) {
      throw storageError(
        'PreconditionFailed',
        'X-Copy-From header must be of the form <container name>/<object name>',
      );
    }
    return {
      account,
      container: checkContainerName(trimmed.slice(0, at)),
      name: checkObjectName(trimmed.slice(at + 1)),
    };
  }

  async function getObject(ctx: SwiftContext, ref: ObjectRef): Promise<void> {
    const { req, res, query } = ctx;
    const view = await store.head(ref);
    const rec = view.record;
    if (rec.kind === 'slo' && query.get('multipart-manifest') === 'get') {
      const body = Buffer.from(manifestForClient(rec));
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
      res.setHeader('X-Static-Large-Object', 'True');
      res.setHeader('ETag', rec.etag);
      res.setHeader('Content-Length', String(body.length));
      objectHeaders(res, view);
      status(res, 200).end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    const etag = rec.kind === 'plain' ? view.etag : `"${view.etag}"`;
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
    res.setHeader('ETag', etag);
    objectHeaders(res, view);
    if (outcome === 'not-modified') {
      status(res, 304).end();
      return;
    }
    if (outcome === 'failed') throw storageError('PreconditionFailed', 'Precondition Failed');
    res.setHeader('Content-Type', rec.contentType);
    await sendObject(req, res, store, view, 'The Range requested is not available.');
  }

  function objectHeaders(res: ObjectResponse, view: ObjectView): void {
    const rec = view.record;
    res.setHeader('Last-Modified', httpDate(rec.lastModified));
    res.setHeader('X-Timestamp', swiftTimestamp(rec.lastModified));
    if (rec.kind === 'slo') res.setHeader('X-Static-Large-Object', 'True');
    if (rec.kind === 'dlo') {
      const manifest = rec.manifest ?? '';
      res.setHeader('X-Object-Manifest', /^[\x20-\x7e]*$/.test(manifest) ? manifest : encodeURI(manifest));
    }
    for (const [k, v] of Object.entries(rec.meta)) res.setHeader(`X-Object-Meta-${k}`, v);
  }

  return handle;
}

function objectListingEntry(o: ObjectRecord): Record<string, unknown> {
  return {
    name: o.name,
    hash: o.etag,
    bytes: o.size,
    content_type: o.contentType,
    last_modified: listingDate(o.lastModified),
    ...(o.kind === 'slo' ? { slo_etag: `"${o.etag}"` } : {}),
  };
}

function manifestForClient(rec: ObjectRecord): string {
  const segments = JSON.parse(rec.manifest ?? '[]') as SloSegment[];
  return JSON.stringify(
    segments.map((s) => ({
      name: s.name,
      hash: s.hash,
      bytes: s.bytes,
      content_type: s.content_type ?? 'application/octet-stream',
      last_modified: s.last_modified ?? '',
    })),
  );
}
