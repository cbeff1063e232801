/**
 * Version discovery, as Glance answers it: GET / is 300 Multiple Choices with every
 * supported v2 minor version; /versions is the same list with 200; /v2 (authenticated) too.
 */
import { Router, type Request } from 'express';

const CURRENT = 'v2.15';
const SUPPORTED = ['v2.9', 'v2.7', 'v2.6', 'v2.5', 'v2.4', 'v2.3', 'v2.2', 'v2.1', 'v2.0'];

export function versionsDocument(base: string): Record<string, unknown> {
  const href = `${base.replace(/\/+$/, '')}/v2/`;
  const entry = (id: string, status: string) => ({ id, status, links: [{ rel: 'self', href }] });
  return { versions: [entry(CURRENT, 'CURRENT'), ...SUPPORTED.map((id) => entry(id, 'SUPPORTED'))] };
}

export function baseUrl(req: Request, publicUrl: string | undefined): string {
  return publicUrl ?? `${req.protocol}://${req.get('host') ?? 'localhost'}`;
}

export function versionsRouter(publicUrl: string | undefined): Router {
  const router = Router();
  router.get('/', (req, res) => {
    res.status(300).json(versionsDocument(baseUrl(req, publicUrl)));
  });
  router.get('/versions', (req, res) => {
    res.json(versionsDocument(baseUrl(req, publicUrl)));
  });
  return router;
}
