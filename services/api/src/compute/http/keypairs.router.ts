/** /os-keypairs: create (generated or imported), list, show, delete; per user. */
import { Router } from 'express';
import { z } from 'zod';
import { route } from '@strato/http';
import { invalid } from '@strato/errors';
import { parseLimit, passThroughOf } from '../domain/server-query';
import type { KeypairService } from '../keypair.service';
import { callerOf, parseBody, queryParam, versionOf, type Urls } from './context';
import { keypairSummary, keypairView } from './views';

const createSchema = z.object({
  keypair: z
    .object({
      name: z
        .string()
        .min(1)
        .max(255)
        .refine(
          (s) => s.trim() === s && s.trim().length > 0,
          'has leading or trailing whitespace or is blank',
        ),
      public_key: z.string().min(1).max(65535).optional(),
      type: z.enum(['ssh', 'x509']).optional(),
      user_id: z.string().min(1).max(255).optional(),
    })
    .strict(),
});

/** Nova's keypair_name_special_chars: what a name may hold, widened in 2.92. */
const NAME_CHARS = /^[_\- a-zA-Z0-9]+$/;
const NAME_CHARS_292 = /^[_\-@. a-zA-Z0-9]+$/;

export function keypairsRouter(deps: { keypairs: KeypairService; urls: Urls }): Router {
  const { keypairs, urls } = deps;
  const router = Router();

  router.post(
    '/os-keypairs',
    route(async (req, res) => {
      const mv = versionOf(req);
      const { keypair: k } = parseBody(createSchema, req.body);
      if (!(mv.atLeast(92) ? NAME_CHARS_292 : NAME_CHARS).test(k.name)) {
        throw invalid(
          `Invalid input for field/attribute name. Value: ${k.name}. Keypair name contains unsafe characters`,
        );
      }
      if (mv.atLeast(92) && !k.public_key) {
        throw invalid("Invalid input for field/attribute keypair. 'public_key' is a required property");
      }
      const { row, privateKey } = await keypairs.create(callerOf(req), {
        name: k.name,
        type: mv.atLeast(2) ? (k.type ?? 'ssh') : 'ssh',
        publicKey: k.public_key ?? null,
        userId: mv.atLeast(10) ? (k.user_id ?? null) : null,
      });
      const body: Record<string, unknown> = {
        ...(privateKey !== null ? { private_key: privateKey } : {}),
        name: row.name,
        public_key: row.publicKey,
        fingerprint: row.fingerprint,
        user_id: row.userId,
        ...(mv.atLeast(2) ? { type: row.type } : {}),
      };
      res.status(mv.atLeast(2) ? 201 : 200).json({ keypair: body });
    }),
  );

  router.get(
    '/os-keypairs',
    route(async (req, res) => {
      const mv = versionOf(req);
      const limit = mv.atLeast(35) ? parseLimit(queryParam(req, 'limit')) : Number.MAX_SAFE_INTEGER;
      const marker = mv.atLeast(35) ? queryParam(req, 'marker') : null;
      const rows = await keypairs.list(
        callerOf(req),
        mv.atLeast(10) ? queryParam(req, 'user_id') : null,
        limit,
        marker,
      );
      const body: Record<string, unknown> = { keypairs: rows.map((k) => keypairSummary(k, mv)) };
      // Paged from 2.35, by name.
      const links = mv.atLeast(35)
        ? urls.pageLinks(
            'os-keypairs',
            passThroughOf(req.query),
            rows.length,
            limit,
            () => rows[rows.length - 1]!.name,
          )
        : null;
      if (links) body.keypairs_links = links;
      res.json(body);
    }),
  );

  router.get(
    '/os-keypairs/:name',
    route(async (req, res) => {
      const mv = versionOf(req);
      const row = await keypairs.get(
        callerOf(req),
        String(req.params.name),
        mv.atLeast(10) ? queryParam(req, 'user_id') : null,
      );
      res.json(keypairView(row, mv));
    }),
  );

  router.delete(
    '/os-keypairs/:name',
    route(async (req, res) => {
      const mv = versionOf(req);
      await keypairs.delete(
        callerOf(req),
        String(req.params.name),
        mv.atLeast(10) ? queryParam(req, 'user_id') : null,
      );
      res.status(mv.atLeast(2) ? 204 : 202).end();
    }),
  );

  return router;
}
