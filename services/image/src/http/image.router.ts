/**
 * Image v2 over HTTP: parse, call the ImageService, map to Glance's JSON. Everything under
 * /v2 needs a project-scoped X-Auth-Token.
 */
import express, { Router, type Request, type RequestHandler, type Response } from 'express';
import { pipeline } from 'node:stream/promises';
import { authenticate, isAdmin, requireProject, type TokenService } from '@strato/auth';
import { AppError } from '@strato/errors';
import { jsonBody, route } from '@strato/http';
import type { Caller } from '../domain/image-policy';
import { PATCH_MEDIA_TYPE } from '../domain/image-patch';
import { parseListQuery, type ListLimits, type Query } from '../domain/image-query';
import type { ImageService } from '../domain/image.service';
import { imageView, memberView } from './image.view';
import { imageSchema, imagesSchema, memberSchema, membersSchema } from './schemas';
import { baseUrl, versionsDocument } from './versions.router';

export interface ImageRouterDeps {
  images: ImageService;
  tokens: TokenService;
  publicUrl: string | undefined;
  maxBodyBytes: number;
  listLimits: ListLimits;
}

const ACCEPT_PATCH = PATCH_MEDIA_TYPE;

function caller(req: Request): Caller {
  const claims = requireProject(req);
  return { projectId: claims.project.id, isAdmin: isAdmin(claims) };
}

function param(req: Request, name: string): string {
  const value = req.params[name];
  return typeof value === 'string' ? value : '';
}

function mediaType(req: Request): string {
  return (req.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
}

/** The JSON patch body: only Glance's v2.1 patch media type, parsed with the size limit. */
function patchBody(limit: number): RequestHandler {
  const parse = express.json({ limit, strict: false, type: () => true });
  return (req, res, next) => {
    if (mediaType(req) !== PATCH_MEDIA_TYPE) {
      res.setHeader('accept-patch', ACCEPT_PATCH);
      next(new AppError('UnsupportedMediaType', `Unsupported Content-Type. Use ${PATCH_MEDIA_TYPE}.`));
      return;
    }
    parse(req, res, (err?: unknown) => {
      if (!err) return next();
      const e = err as { type?: string };
      if (e.type === 'entity.too.large')
        return next(new AppError('PayloadTooLarge', 'Request Entity Too Large'));
      return next(new AppError('Invalid', 'Malformed JSON in request body.'));
    });
  };
}

/** Rebuilds the request's query string with `marker` replaced (for the `next` link). */
function pageLink(req: Request, marker?: string): string {
  const q = new URLSearchParams(req.originalUrl.split('?')[1] ?? '');
  if (marker !== undefined) {
    q.delete('marker');
    q.append('marker', marker);
  }
  const s = q.toString();
  return s ? `/v2/images?${s}` : '/v2/images';
}

function noContent(res: Response): void {
  res.status(204).setHeader('content-type', 'text/html; charset=UTF-8');
  res.setHeader('content-length', '0');
  res.end();
}

export function imageRouter(deps: ImageRouterDeps): Router {
  const { images } = deps;
  const router = Router();
  const json = jsonBody(deps.maxBodyBytes);
  router.use('/v2', authenticate(deps.tokens, { required: true }));

  router.get(['/v2', '/v2/'], (req, res) => {
    res.json(versionsDocument(baseUrl(req, deps.publicUrl)));
  });

  router.get('/v2/schemas/image', (_req, res) => {
    res.json(imageSchema());
  });
  router.get('/v2/schemas/images', (_req, res) => {
    res.json(imagesSchema());
  });
  router.get('/v2/schemas/member', (_req, res) => {
    res.json(memberSchema());
  });
  router.get('/v2/schemas/members', (_req, res) => {
    res.json(membersSchema());
  });

  router.get('/v2/info/import', (_req, res) => {
    res.json({
      'import-methods': {
        description: 'Import methods available.',
        type: 'array',
        value: [],
      },
    });
  });
  router.get('/v2/info/stores', (_req, res) => {
    res.json({ stores: [{ id: 'swift', description: 'Strato object storage', default: true }] });
  });

  router.post(
    '/v2/images',
    json,
    route(async (req, res) => {
      const image = await images.create(caller(req), req.body);
      res.status(201).setHeader('location', `${baseUrl(req, deps.publicUrl)}/v2/images/${image.id}`);
      res.json(imageView(image));
    }),
  );

  router.get(
    '/v2/images',
    route(async (req, res) => {
      const criteria = parseListQuery(req.query as Query, deps.listLimits);
      const page = await images.list(caller(req), criteria);
      const body: Record<string, unknown> = { images: page.map(imageView), first: pageLink(req) };
      const last = page[page.length - 1];
      if (last && page.length === criteria.limit) body.next = pageLink(req, last.id);
      body.schema = '/v2/schemas/images';
      res.json(body);
    }),
  );

  router.get(
    '/v2/images/:id',
    route(async (req, res) => {
      res.json(imageView(await images.get(caller(req), param(req, 'id'))));
    }),
  );

  router.patch(
    '/v2/images/:id',
    patchBody(deps.maxBodyBytes),
    route(async (req, res) => {
      res.json(imageView(await images.update(caller(req), param(req, 'id'), req.body)));
    }),
  );

  router.delete(
    '/v2/images/:id',
    route(async (req, res) => {
      await images.delete(caller(req), param(req, 'id'));
      noContent(res);
    }),
  );

  router.post(
    '/v2/images/:id/actions/deactivate',
    route(async (req, res) => {
      await images.deactivate(caller(req), param(req, 'id'));
      noContent(res);
    }),
  );
  router.post(
    '/v2/images/:id/actions/reactivate',
    route(async (req, res) => {
      await images.reactivate(caller(req), param(req, 'id'));
      noContent(res);
    }),
  );

  router.put(
    '/v2/images/:id/file',
    route(async (req, res) => {
      if (mediaType(req) !== 'application/octet-stream') {
        throw new AppError(
          'UnsupportedMediaType',
          'The Content-Type of image data must be application/octet-stream.',
        );
      }
      const length = req.get('content-length');
      const expected = length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined;
      await images.upload(caller(req), param(req, 'id'), req, expected);
      noContent(res);
    }),
  );

  router.get(
    '/v2/images/:id/file',
    route(async (req, res) => {
      const download = await images.download(caller(req), param(req, 'id'), req.get('range'));
      if (download.data === null) {
        noContent(res);
        return;
      }
      const { image, data, range, size } = download;
      res.setHeader('content-type', 'application/octet-stream');
      if (range) {
        res.status(206);
        res.setHeader('content-range', `bytes ${range.start}-${range.end}/${size}`);
        res.setHeader('content-length', String(range.end - range.start + 1));
      } else {
        res.status(200);
        res.setHeader('content-length', String(size));
        if (image.checksum) res.setHeader('content-md5', image.checksum);
      }
      try {
        await pipeline(data, res);
      } catch {
        // The client went away or the store failed mid-stream: the status is already sent.
        data.destroy();
        res.destroy();
      }
    }),
  );

  router.put(
    '/v2/images/:id/tags/:tag',
    route(async (req, res) => {
      await images.addTag(caller(req), param(req, 'id'), param(req, 'tag'));
      noContent(res);
    }),
  );
  router.delete(
    '/v2/images/:id/tags/:tag',
    route(async (req, res) => {
      await images.removeTag(caller(req), param(req, 'id'), param(req, 'tag'));
      noContent(res);
    }),
  );

  router.post(
    '/v2/images/:id/members',
    json,
    route(async (req, res) => {
      res.json(memberView(await images.addMember(caller(req), param(req, 'id'), req.body)));
    }),
  );
  router.get(
    '/v2/images/:id/members',
    route(async (req, res) => {
      const members = await images.listMembers(caller(req), param(req, 'id'));
      res.json({ members: members.map(memberView), schema: '/v2/schemas/members' });
    }),
  );
  router.get(
    '/v2/images/:id/members/:member',
    route(async (req, res) => {
      res.json(memberView(await images.getMember(caller(req), param(req, 'id'), param(req, 'member'))));
    }),
  );
  router.put(
    '/v2/images/:id/members/:member',
    json,
    route(async (req, res) => {
      const member = await images.updateMember(caller(req), param(req, 'id'), param(req, 'member'), req.body);
      res.json(memberView(member));
    }),
  );
  router.delete(
    '/v2/images/:id/members/:member',
    route(async (req, res) => {
      await images.removeMember(caller(req), param(req, 'id'), param(req, 'member'));
      noContent(res);
    }),
  );

  return router;
}
