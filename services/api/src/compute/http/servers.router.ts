/** /servers: boot, list/detail, show, rename, delete, actions and metadata. */
import { Router, type Request } from 'express';
import { z } from 'zod';
import { route } from '@strato/http';
import { invalid, notFound } from '@strato/errors';
import type { CachedHostList } from '../adapters/host-directory.scheduler';
import { idFromRef, parseServerQuery, truthy } from '../domain/server-query';
import type { ApiVersion } from '../domain/microversion';
import type { ServerService } from '../server.service';
import type { InstanceRow } from '../store';
import {
  callerOf,
  descriptionField,
  hasKey,
  metadataField,
  nameField,
  parseBody,
  versionOf,
  type Urls,
} from './context';
import { serverSummary, serverView, type ServerViewContext } from './views';

const intLike = z
  .union([
    z.int(),
    z
      .string()
      .regex(/^\s*\d+\s*$/)
      .transform(Number),
  ])
  .pipe(z.int().min(1));
const flag = z.union([z.boolean(), z.string().transform((s) => truthy(s))]);
const base64 = z
  .string()
  .max(65535)
  .refine((s) => /^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(s), 'is not valid base64');
const hints = z.object({ group: z.string().min(1).max(255).optional() }).loose();

const createSchema = z
  .object({
    server: z
      .object({
        name: nameField,
        flavorRef: z.union([z.string().min(1).max(255), z.int().transform(String)]),
        imageRef: z.string().max(255).optional(),
        metadata: metadataField.optional(),
        key_name: z.string().min(1).max(255).nullable().optional(),
        availability_zone: z.string().min(1).max(255).nullable().optional(),
        min_count: intLike.optional(),
        max_count: intLike.optional(),
        user_data: base64.nullable().optional(),
        networks: z.union([z.literal('none'), z.literal('auto'), z.array(z.object({}).loose())]).optional(),
        description: descriptionField.optional(),
        tags: z.array(z.string().min(1).max(60)).max(50).optional(),
        accessIPv4: z.union([z.ipv4(), z.literal('')]).optional(),
        accessIPv6: z.union([z.ipv6(), z.literal('')]).optional(),
        config_drive: flag.optional(),
        adminPass: z.string().optional(),
        return_reservation_id: flag.optional(),
        security_groups: z.array(z.object({ name: z.string() }).loose()).optional(),
      })
      .loose(),
    'os:scheduler_hints': hints.optional(),
    'OS-SCH-HNT:scheduler_hints': hints.optional(),
  })
  .loose();

const updateSchema = z.object({
  server: z
    .object({
      name: nameField.optional(),
      description: descriptionField.optional(),
      accessIPv4: z.union([z.ipv4(), z.literal('')]).optional(),
      accessIPv6: z.union([z.ipv6(), z.literal('')]).optional(),
    })
    .loose(),
});

/**
 * The fields Nova's schemas know in a server body, with the microversions that have them
 * ([first, last] minor of 2.x). A field Strato does not act on yet (block devices, networks,
 * personality…) is taken and left alone, as before; one Nova does not know at the version is
 * refused, as Nova's additionalProperties: False does: a hint or a typo inside `server` is
 * never silently dropped.
 */
const ALWAYS: [number, number] = [0, Infinity];
const CREATE_FIELDS: Readonly<Record<string, [number, number]>> = {
  name: ALWAYS,
  imageRef: ALWAYS,
  flavorRef: ALWAYS,
  adminPass: ALWAYS,
  metadata: ALWAYS,
  networks: ALWAYS,
  'OS-DCF:diskConfig': ALWAYS,
  accessIPv4: ALWAYS,
  accessIPv6: ALWAYS,
  personality: [0, 56],
  security_groups: ALWAYS,
  user_data: ALWAYS,
  availability_zone: ALWAYS,
  block_device_mapping: ALWAYS,
  block_device_mapping_v2: ALWAYS,
  config_drive: ALWAYS,
  key_name: ALWAYS,
  min_count: ALWAYS,
  max_count: ALWAYS,
  return_reservation_id: ALWAYS,
  description: [19, Infinity],
  tags: [52, Infinity],
  trusted_image_certificates: [63, Infinity],
  host: [74, Infinity],
  hypervisor_hostname: [74, Infinity],
  hostname: [90, Infinity],
};
const CREATE_TOP: Readonly<Record<string, [number, number]>> = {
  server: ALWAYS,
  'os:scheduler_hints': ALWAYS,
  'OS-SCH-HNT:scheduler_hints': ALWAYS,
};
const UPDATE_FIELDS: Readonly<Record<string, [number, number]>> = {
  name: ALWAYS,
  description: [19, Infinity],
  accessIPv4: ALWAYS,
  accessIPv6: ALWAYS,
  'OS-DCF:diskConfig': ALWAYS,
  hostname: [90, Infinity],
};

function onlyKnown(
  body: object,
  where: string,
  known: Readonly<Record<string, [number, number]>>,
  mv: ApiVersion,
): void {
  for (const key of Object.keys(body)) {
    const range = Object.hasOwn(known, key) ? known[key] : undefined;
    if (!range || !mv.atLeast(range[0]) || mv.atLeast(range[1] + 1)) {
      throw invalid(
        `Invalid input for field/attribute ${where}. Additional properties are not allowed ('${key}' was unexpected)`,
      );
    }
  }
}

const rebootSchema = z.object({
  type: z.string().refine((t) => ['SOFT', 'HARD'].includes(t.toUpperCase()), "must be 'SOFT' or 'HARD'"),
});
const createImageSchema = z.strictObject({ name: nameField, metadata: metadataField.optional() });
const consoleSchema = z
  .object({
    length: z
      .union([
        z.int(),
        z
          .string()
          .regex(/^-?\d+$/)
          .transform(Number),
        z.null(),
      ])
      .optional(),
  })
  .nullable();

export function serversRouter(deps: {
  servers: ServerService;
  hosts: CachedHostList;
  urls: Urls;
  defaultZone: string;
  /** The image endpoint clients use (createImage's Location header before 2.45). */
  imagePublicUrl: string;
}): Router {
  const { servers, urls } = deps;
  const router = Router();

  async function viewContext(req: Request, show: boolean): Promise<ServerViewContext> {
    const mv = versionOf(req);
    const admin = callerOf(req).admin;
    const hosts = admin && mv.atLeast(16) ? await deps.hosts.hosts().catch(() => null) : null;
    return { mv, admin, urls, hosts, defaultZone: deps.defaultZone, show };
  }

  /**
   * A zone asked for must be one an enabled compute host is in, as Nova checks before it
   * accepts the boot (otherwise it would only fail later as "No valid host"). When the host
   * list cannot be read, the scheduler decides alone.
   */
  async function requireZone(zone: string): Promise<void> {
    const hosts = await deps.hosts.hosts().catch(() => null);
    if (hosts && !hosts.some((h) => h.availability_zone === zone && h.status === 'enabled')) {
      throw invalid('The requested availability zone is not available');
    }
  }

  router.post(
    '/servers',
    route(async (req, res) => {
      const caller = callerOf(req);
      const mv = versionOf(req);
      const body = parseBody(createSchema, req.body);
      onlyKnown(body, 'body', CREATE_TOP, mv);
      onlyKnown(body.server, 'server', CREATE_FIELDS, mv);
      const s = body.server;
      if (!s.imageRef) throw invalid('Missing imageRef attribute');
      const minCount = s.min_count ?? 1;
      const maxCount = s.max_count ?? minCount;
      if (minCount > maxCount) throw invalid('min_count must be <= max_count');
      const groupId = (body['os:scheduler_hints'] ?? body['OS-SCH-HNT:scheduler_hints'])?.group ?? null;
      if (s.availability_zone) await requireZone(s.availability_zone);
      const created = await servers.create(caller, {
        name: s.name,
        flavorRef: idFromRef(s.flavorRef),
        imageRef: idFromRef(s.imageRef),
        metadata: s.metadata ?? {},
        keyName: s.key_name ?? null,
        availabilityZone: s.availability_zone ?? null,
        minCount,
        maxCount,
        userData: s.user_data ?? null,
        description: mv.atLeast(19) ? (s.description ?? null) : s.name,
        tags: mv.atLeast(52) ? (s.tags ?? []) : [],
        groupId,
        accessIPv4: s.accessIPv4 ?? '',
        accessIPv6: s.accessIPv6 ?? '',
        configDrive: s.config_drive ?? false,
        adminPass: s.adminPass ?? null,
      });
      if (s.return_reservation_id) {
        res.status(202).json({ reservation_id: created.reservationId });
        return;
      }
      const first = created.instances[0]!;
      res.setHeader('Location', `${urls.versioned}/servers/${first.id}`);
      res.status(202).json({
        server: {
          id: first.id,
          links: urls.links('servers', first.id),
          'OS-DCF:diskConfig': 'MANUAL',
          security_groups: (s.security_groups ?? [{ name: 'default' }]).map((g) => ({ name: g.name })),
          adminPass: created.adminPass,
        },
      });
    }),
  );

  const list = (detail: boolean) =>
    route(async (req, res) => {
      const caller = callerOf(req);
      const q = parseServerQuery(req.query, {
        admin: caller.admin,
        detail,
        strictStatus: versionOf(req).atLeast(38),
      });
      const rows = await servers.list(caller, q);
      const ctx = detail ? await viewContext(req, false) : null;
      const body: Record<string, unknown> = {
        servers: rows.map((r) => (ctx ? serverView(r, ctx) : serverSummary(r, urls))),
      };
      const links = urls.pageLinks(
        detail ? 'servers/detail' : 'servers',
        q.passThrough,
        rows.length,
        q.limit,
        () => rows[rows.length - 1]!.id,
      );
      if (links) body.servers_links = links;
      res.json(body);
    });
  router.get('/servers', list(false));
  router.get('/servers/detail', list(true));

  const show = async (req: Request, row: InstanceRow) => ({
    server: serverView(row, await viewContext(req, true)),
  });

  router.get(
    '/servers/:id',
    route(async (req, res) => {
      const row = await servers.get(callerOf(req), String(req.params.id));
      res.json(await show(req, row));
    }),
  );

  router.put(
    '/servers/:id',
    route(async (req, res) => {
      const mv = versionOf(req);
      const { server } = parseBody(updateSchema, req.body);
      onlyKnown(server, 'server', UPDATE_FIELDS, mv);
      const row = await servers.update(callerOf(req), String(req.params.id), {
        ...(server.name !== undefined ? { name: server.name } : {}),
        ...(server.description !== undefined ? { description: server.description } : {}),
        ...(server.accessIPv4 !== undefined ? { accessIPv4: server.accessIPv4 } : {}),
        ...(server.accessIPv6 !== undefined ? { accessIPv6: server.accessIPv6 } : {}),
      });
      res.json(await show(req, row));
    }),
  );

  router.delete(
    '/servers/:id',
    route(async (req, res) => {
      await servers.delete(callerOf(req), String(req.params.id));
      res.status(204).end();
    }),
  );

  router.post(
    '/servers/:id/action',
    route(async (req, res) => {
      const caller = callerOf(req);
      const id = String(req.params.id);
      const body: unknown = req.body;
      if (
        typeof body !== 'object' ||
        body === null ||
        Array.isArray(body) ||
        Object.keys(body).length !== 1
      ) {
        throw invalid('Malformed request body');
      }
      const [action, args] = Object.entries(body as Record<string, unknown>)[0]!;
      switch (action) {
        case 'os-stop':
          await servers.act(caller, id, 'stop');
          res.status(202).end();
          return;
        case 'os-start':
          await servers.act(caller, id, 'start');
          res.status(202).end();
          return;
        case 'reboot': {
          const { type } = parseBody(rebootSchema, args);
          await servers.act(caller, id, type.toUpperCase() === 'HARD' ? 'reboot_hard' : 'reboot');
          res.status(202).end();
          return;
        }
        case 'createImage': {
          const { name, metadata } = parseBody(createImageSchema, args);
          const imageId = await servers.createImage(caller, id, { name, metadata: metadata ?? {} });
          // Nova: the image's URL in Location up to 2.44; from 2.45 its id in the body instead.
          if (versionOf(req).atLeast(45)) {
            res.status(202).json({ image_id: imageId });
            return;
          }
          res.setHeader('Location', `${deps.imagePublicUrl.replace(/\/+$/, '')}/images/${imageId}`);
          res.status(202).end();
          return;
        }
        case 'os-getConsoleOutput': {
          const parsed = parseBody(consoleSchema, args);
          const length = parsed?.length ?? null;
          if (length !== null && length < -1) throw invalid('Invalid input for field/attribute length.');
          const output = await servers.consoleOutput(
            caller,
            id,
            length === null || length < 0 ? null : length,
          );
          res.json({ output });
          return;
        }
        default:
          // Confirms the server exists (404 first, like Nova's routing), then refuses the action.
          await servers.get(caller, id);
          throw invalid(`There is no such action: ${action}`);
      }
    }),
  );

  router.get(
    '/servers/:id/metadata',
    route(async (req, res) => {
      res.json({ metadata: (await servers.get(callerOf(req), String(req.params.id))).metadata });
    }),
  );

  const metadataBody = z.object({ metadata: metadataField });
  for (const [method, replace] of [
    ['put', true],
    ['post', false],
  ] as const) {
    router[method](
      '/servers/:id/metadata',
      route(async (req, res) => {
        const { metadata } = parseBody(metadataBody, req.body);
        res.json({
          metadata: await servers.setMetadata(callerOf(req), String(req.params.id), metadata, replace),
        });
      }),
    );
  }

  router.get(
    '/servers/:id/metadata/:key',
    route(async (req, res) => {
      const key = String(req.params.key);
      const { metadata } = await servers.get(callerOf(req), String(req.params.id));
      if (!hasKey(metadata, key)) throw notFound('Metadata item was not found');
      res.json({ meta: { [key]: metadata[key] } });
    }),
  );

  router.put(
    '/servers/:id/metadata/:key',
    route(async (req, res) => {
      const key = String(req.params.key);
      const { meta } = parseBody(z.object({ meta: metadataField }), req.body);
      const keys = Object.keys(meta);
      if (keys.length !== 1) throw invalid('Request body contains too many items');
      if (keys[0] !== key) throw invalid('Request body and URI mismatch');
      await servers.setMetadata(callerOf(req), String(req.params.id), meta, false);
      res.json({ meta });
    }),
  );

  router.delete(
    '/servers/:id/metadata/:key',
    route(async (req, res) => {
      await servers.deleteMetadataKey(callerOf(req), String(req.params.id), String(req.params.key));
      res.status(204).end();
    }),
  );

  return router;
}
