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
const legacySchema = z.object({
  server_group: z.object({ name: nameField, policies: z.array(policy).length(1) }),
});
const currentSchema = z.object({
  server_group: z.object({
    name: nameField,
    policy,
    rules: z.object({ max_server_per_host: z.int().min(1).optional() }).optional(),
  }),
});

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
        const { server_group: g } = parseBody(legacySchema, req.body);
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
      const rows = await groups.list(callerOf(req), truthy(queryParam(req, 'all_projects')));
      res.json({ server_groups: rows.map((g) => serverGroupView(g, mv)) });
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
