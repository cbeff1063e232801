/**
 * /healthz (the process is alive), /readyz (every dependency answers) and /metrics
 * (Prometheus text) for a service, with a request duration histogram.
 */
import { Router, type RequestHandler } from 'express';
import { Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface ReadinessCheck {
  name: string;
  check: () => Promise<void>;
}

export function createMetrics(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}

export function httpMetrics(registry: Registry): RequestHandler {
  const histogram = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by method, route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [registry],
  });
  return (req, res, next) => {
    const end = histogram.startTimer();
    res.on('finish', () => {
      const routePath = (req.route as { path?: string } | undefined)?.path;
      end({
        method: req.method,
        route: routePath ? `${req.baseUrl}${routePath}` : 'unmatched',
        status: res.statusCode,
      });
    });
    next();
  };
}

const CHECK_TIMEOUT_MS = 3000;

async function runCheck(c: ReadinessCheck): Promise<{ name: string; ok: boolean; error?: string }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      c.check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('timed out')), CHECK_TIMEOUT_MS);
      }),
    ]);
    return { name: c.name, ok: true };
  } catch (err) {
    return { name: c.name, ok: false, error: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}

export function probes(registry: Registry, checks: readonly ReadinessCheck[]): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', (_req, res, next) => {
    Promise.all(checks.map(runCheck))
      .then((results) => {
        const ready = results.every((r) => r.ok);
        res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks: results });
      })
      .catch(next);
  });
  router.get('/metrics', (_req, res, next) => {
    registry
      .metrics()
      .then((text) => {
        res.setHeader('Content-Type', registry.contentType);
        res.send(text);
      })
      .catch(next);
  });
  return router;
}
