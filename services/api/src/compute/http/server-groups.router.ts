/** /os-server-groups: policies as a list before 2.64, a single policy (with rules) since. */
import { Router } from 'express';
import { z } from 'zod';
import { route } from '@strato/http';
import { invalid } from '@strato/errors';
import { SERVER_GROUP_POLICIES } from '@strato/contracts';
import { truthy } from '../domain/server-query';
import type { ServerGroupService } from '../server-group.service';
import { callerOf, nameField, parseBody, queryParam, versionOf } from './context';
import { serverGroupView } from './views';

const policy = z.enum(SERVER_GROUP_POLICIES);
/** Before 2.15 only the hard policies. */
const hardPolicy = z.enum(['anti-affinity', 'affinity']);
const legacySchema = (p: z.ZodType<string>) =>
  z.strictObject({ server_group: z.strictObject({ name: nameField, policies: z.array(p).length(1) }) });
const legacySchemas = { hard: legacySchema(hardPolicy), all: legacySchema(policy) };
/** Nova's positive_integer: a number, or a string of digits (openstackclient sends one). */
const positiveInteger = z
  .union([
    z.int(),
    z
      .string()
      .regex(/^[0-9]+$/)
      .transform(Number),
  ])
  .pipe(z.int().min(1).max(Number.MAX_SAFE_INTEGER));
const currentSchema = z.strictObject({
  server_group: z.strictObject({
    name: nameField,
    policy,
    rules: z.strictObject({ max_server_per_host: positiveInteger.optional() }).optional(),
  }),
});
/** Nova's common.limited: at most 1000 a page. */
const MAX_LIMIT = 1000;

function nonNegative(value: string | null, name: string): number | null {
  if (value === null) return null;
  if (!/^[0-9]+$/.test(value)) {
    throw invalid(`Invalid input for query parameters ${name}. Value: ${value}. '${value}' is not valid.`);
  }
  return Number(value);
}

export function serverGroupsRouter(deps: { groups: ServerGroupService }): Router {
  const { groups } = deps;
  const router = Router();

  router.post(
    '/os-server-groups',
    route(async (req, res) => {
      const mv = versionOf(req);
      const caller = callerOf(req);
      let input: { name: string; policy: string; rules: Record<string, unknown> };
      if (mv.atLeast(64)) {
        const { server_group: g } = parseBody(currentSchema, req.body);
        if (g.rules && Object.keys(g.rules).length > 0 && g.policy !== 'anti-affinity') {
          throw invalid('Only anti-affinity policy supports rules.');
        }
        input = { name: g.name, policy: g.policy, rules: g.rules ?? {} };
      } else {
        const { server_group: g } = parseBody(
          mv.atLeast(15) ? legacySchemas.all : legacySchemas.hard,
          req.body,
        );
        input = { name: g.name, policy: g.policies[0]!, rules: {} };
      }
      const created = await groups.create(caller, input);
      res.json({ server_group: serverGroupView(created, mv) });
    }),
  );

  router.get(
    '/os-server-groups',
    route(async (req, res) => {
      const mv = versionOf(req);
      const offset = nonNegative(queryParam(req, 'offset'), 'offset') ?? 0;
      const limit = Math.min(MAX_LIMIT, nonNegative(queryParam(req, 'limit'), 'limit') || MAX_LIMIT);
      const rows = await groups.list(callerOf(req), truthy(queryParam(req, 'all_projects')));
      res.json({ server_groups: rows.slice(offset, offset + limit).map((g) => serverGroupView(g, mv)) });
    }),
  );

  router.get(
    '/os-server-groups/:id',
    route(async (req, res) => {
      const group = await groups.get(callerOf(req), String(req.params.id));
      res.json({ server_group: serverGroupView(group, versionOf(req)) });
    }),
  );

  router.delete(
    '/os-server-groups/:id',
    route(async (req, res) => {
      await groups.delete(callerOf(req), String(req.params.id));
      res.status(204).end();
    }),
  );

  return router;
}
