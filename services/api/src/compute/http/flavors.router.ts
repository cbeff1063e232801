/** /flavors, os-extra_specs and os-flavor-access. */
import { Router } from 'express';
import { z } from 'zod';
import { route } from '@strato/http';
import { invalid, notFound } from '@strato/errors';
import { parseLimit, passThroughOf, truthy } from '../domain/server-query';
import type { ProjectDirectory } from '../domain/ports';
import { requireAdmin, type FlavorService } from '../flavor.service';
import {
  callerOf,
  hasKey,
  keyMap,
  parseBody,
  queryParam,
  requireKnownProject,
  versionOf,
  type Urls,
} from './context';
import { flavorSummary, flavorView } from './views';

const intLike = (min: number) =>
  z
    .union([
      z.int(),
      z
        .string()
        .regex(/^\s*-?\d+\s*$/)
        .transform(Number),
    ])
    .pipe(z.int().min(min));

const createSchema = z.object({
  flavor: z.object({
    name: z
      .string()
      .min(1)
      .max(255)
      .refine((s) => s.trim() === s && s.trim().length > 0, 'has leading or trailing whitespace or is blank'),
    id: z
      .union([
        z
          .string()
          .min(1)
          .max(255)
          .regex(/^(?! )[a-zA-Z0-9. _-]+(?<! )$/),
        z.int().transform(String),
        z.null(),
      ])
      .optional(),
    ram: intLike(1),
    vcpus: intLike(1),
    disk: intLike(0),
    'OS-FLV-EXT-DATA:ephemeral': intLike(0).optional(),
    swap: z.union([intLike(0), z.literal('').transform(() => 0)]).optional(),
    rxtx_factor: z
      .union([
        z.number(),
        z
          .string()
          .regex(/^\d+(\.\d+)?$/)
          .transform(Number),
      ])
      .pipe(z.number().positive())
      .optional(),
    'os-flavor-access:is_public': z.union([z.boolean(), z.string().transform((s) => truthy(s))]).optional(),
    description: z.string().max(65535).nullable().optional(),
  }),
});

/** Nova's extra spec value: a string, or a number (stored as its text). */
const specValue = z.union([z.string().max(255), z.number().transform(String)]);
const specsMap = keyMap(specValue);
const specsSchema = z.object({ extra_specs: specsMap });

function isPublicFilter(value: string | null): boolean | null {
  if (value === null || value.toLowerCase() === 'none') return null;
  return truthy(value);
}

function intParam(name: string, value: string | null): number | null {
  if (value === null) return null;
  if (!/^\d+$/.test(value)) throw invalid(`Invalid ${name} filter [${value}]`);
  return Number(value);
}

export function flavorsRouter(deps: {
  flavors: FlavorService;
  urls: Urls;
  projects: ProjectDirectory;
}): Router {
  const { flavors, urls } = deps;
  const router = Router();

  const list = (detail: boolean) =>
    route(async (req, res) => {
      const caller = callerOf(req);
      const mv = versionOf(req);
      const limit = parseLimit(queryParam(req, 'limit'));
      const rows = await flavors.list(caller, {
        isPublic: isPublicFilter(queryParam(req, 'is_public')),
        minRam: intParam('minRam', queryParam(req, 'minRam')),
        minDisk: intParam('minDisk', queryParam(req, 'minDisk')),
        limit,
        marker: queryParam(req, 'marker'),
      });
      const body: Record<string, unknown> = {
        flavors: rows.map((f) => (detail ? flavorView(f, mv, urls) : flavorSummary(f, mv, urls))),
      };
      const links = urls.pageLinks(
        detail ? 'flavors/detail' : 'flavors',
        passThroughOf(req.query),
        rows.length,
        limit,
        () => rows[rows.length - 1]!.id,
      );
      if (links) body.flavors_links = links;
      res.json(body);
    });

  router.get('/flavors', list(false));
  router.get('/flavors/detail', list(true));

  router.get(
    '/flavors/:id',
    route(async (req, res) => {
      const flavor = await flavors.get(callerOf(req), String(req.params.id));
      res.json({ flavor: flavorView(flavor, versionOf(req), urls) });
    }),
  );

  router.post(
    '/flavors',
    route(async (req, res) => {
      const caller = callerOf(req);
      const mv = versionOf(req);
      const { flavor: f } = parseBody(createSchema, req.body);
      const id = f.id === undefined || f.id === null || f.id === 'auto' ? null : f.id;
      const created = await flavors.create(caller, {
        id,
        name: f.name,
        ram: f.ram,
        vcpus: f.vcpus,
        disk: f.disk,
        ephemeral: f['OS-FLV-EXT-DATA:ephemeral'] ?? 0,
        swap: f.swap ?? 0,
        rxtxFactor: f.rxtx_factor ?? 1,
        isPublic: f['os-flavor-access:is_public'] ?? true,
        description: mv.atLeast(55) ? (f.description ?? null) : null,
      });
      res.status(200).json({ flavor: flavorView(created, mv, urls) });
    }),
  );

  router.put(
    '/flavors/:id',
    route(async (req, res) => {
      const mv = versionOf(req);
      if (!mv.atLeast(55)) throw invalid('Flavor update requires microversion 2.55 or later.');
      const body = parseBody(
        z.object({ flavor: z.object({ description: z.string().max(65535).nullable() }) }),
        req.body,
      );
      const updated = await flavors.update(callerOf(req), String(req.params.id), body.flavor.description);
      res.json({ flavor: flavorView(updated, mv, urls) });
    }),
  );

  router.delete(
    '/flavors/:id',
    route(async (req, res) => {
      await flavors.delete(callerOf(req), String(req.params.id));
      res.status(202).end();
    }),
  );

  router.get(
    '/flavors/:id/os-extra_specs',
    route(async (req, res) => {
      res.json({ extra_specs: await flavors.extraSpecs(callerOf(req), String(req.params.id)) });
    }),
  );

  router.post(
    '/flavors/:id/os-extra_specs',
    route(async (req, res) => {
      const { extra_specs } = parseBody(specsSchema, req.body);
      res.json({
        extra_specs: await flavors.setExtraSpecs(callerOf(req), String(req.params.id), extra_specs),
      });
    }),
  );

  router.get(
    '/flavors/:id/os-extra_specs/:key',
    route(async (req, res) => {
      const key = String(req.params.key);
      const specs = await flavors.extraSpecs(callerOf(req), String(req.params.id));
      if (!hasKey(specs, key)) {
        throw notFound(`Flavor ${String(req.params.id)} has no extra specs with key ${key}.`);
      }
      res.json({ [key]: specs[key] });
    }),
  );

  router.put(
    '/flavors/:id/os-extra_specs/:key',
    route(async (req, res) => {
      const key = String(req.params.key);
      const body = parseBody(specsMap, req.body);
      const keys = Object.keys(body);
      if (keys.length !== 1 || keys[0] !== key) throw invalid('Request body and URI mismatch');
      res.json(await flavors.setExtraSpecs(callerOf(req), String(req.params.id), body));
    }),
  );

  router.delete(
    '/flavors/:id/os-extra_specs/:key',
    route(async (req, res) => {
      await flavors.deleteExtraSpec(callerOf(req), String(req.params.id), String(req.params.key));
      res.status(200).end();
    }),
  );

  const accessView = (flavorId: string, projects: string[]) => ({
    flavor_access: projects.map((p) => ({ flavor_id: flavorId, tenant_id: p })),
  });

  router.get(
    '/flavors/:id/os-flavor-access',
    route(async (req, res) => {
      const id = String(req.params.id);
      res.json(accessView(id, await flavors.accessList(callerOf(req), id)));
    }),
  );

  const tenantSchema = z.object({ tenant: z.string().min(1).max(255) });
  const actionSchema = z.union([
    z.object({ addTenantAccess: tenantSchema }),
    z.object({ removeTenantAccess: tenantSchema }),
  ]);

  router.post(
    '/flavors/:id/action',
    route(async (req, res) => {
      const id = String(req.params.id);
      const caller = callerOf(req);
      const body = parseBody(actionSchema, req.body);
      if ('addTenantAccess' in body) {
        requireAdmin(caller, 'os-flavor-access:add_tenant_access');
        await requireKnownProject(deps.projects, body.addTenantAccess.tenant);
      }
      const projects =
        'addTenantAccess' in body
          ? await flavors.addAccess(caller, id, body.addTenantAccess.tenant)
          : await flavors.removeAccess(caller, id, body.removeTenantAccess.tenant);
      res.json(accessView(id, projects));
    }),
  );

  return router;
}
