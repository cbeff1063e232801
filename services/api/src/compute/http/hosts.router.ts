/**
 * Admin views of compute hosts, from the scheduler (scheduler.list_hosts and
 * scheduler.set_host_enabled): /os-hypervisors, /os-services, the zones of
 * /os-availability-zone, and /os-aggregates (Strato has no host aggregates: zones and
 * capabilities come from each agent's configuration, so the list is empty).
 */
import { Router } from 'express';
import { z } from 'zod';
import { route } from '@strato/http';
import { AppError, invalid, notFound } from '@strato/errors';
import type { HostSummary } from '@strato/contracts';
import type { ApiVersion } from '../domain/microversion';
import type { HostDirectory } from '../domain/ports';
import type { ServerService } from '../server.service';
import { requireAdmin } from '../flavor.service';
import { callerOf, parseBody, queryParam, versionOf, type Urls } from './context';
import { parseLimit, passThroughOf, truthy } from '../domain/server-query';

function usedOf(h: HostSummary) {
  return {
    vcpus: h.vcpus,
    memory_mb: h.memory_mb,
    local_gb: h.local_gb,
    vcpus_used: h.vcpus_used,
    memory_mb_used: h.memory_mb_used,
    local_gb_used: h.local_gb_used,
    free_ram_mb: h.memory_mb - h.memory_mb_used,
    free_disk_gb: h.local_gb - h.local_gb_used,
    current_workload: h.current_workload,
    running_vms: h.running_vms,
    disk_available_least: h.local_gb - h.local_gb_used,
  };
}

function parseCpuInfo(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return {};
  }
}

export function hypervisorView(h: HostSummary, mv: ApiVersion, detail: boolean): Record<string, unknown> {
  const base = { id: h.id, hypervisor_hostname: h.host, state: h.state, status: h.status };
  if (!detail) return base;
  return {
    ...base,
    hypervisor_type: h.hypervisor_type,
    hypervisor_version: h.hypervisor_version,
    host_ip: h.host_ip,
    service: { id: h.id, host: h.host, disabled_reason: h.disabled_reason },
    ...(mv.atLeast(88) ? { uptime: null } : usedOf(h)),
    ...(mv.atLeast(88) ? {} : { cpu_info: mv.atLeast(28) ? parseCpuInfo(h.cpu_info) : h.cpu_info }),
  };
}

/** Nova's boolean parameter: true or false, or one of the words its schema lists for them. */
const novaBoolean = z.union([
  z.boolean(),
  z.enum(['True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes']).transform(() => true),
  z.enum(['False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no']).transform(() => false),
]);

function nova(iso: string | null): string | null {
  return iso ? `${iso.slice(0, 19)}.000000` : null;
}

export function serviceView(h: HostSummary, mv: ApiVersion): Record<string, unknown> {
  return {
    id: h.id,
    binary: 'nova-compute',
    host: h.host,
    zone: h.availability_zone,
    status: h.status,
    state: h.state,
    updated_at: nova(h.updated_at),
    disabled_reason: h.disabled_reason,
    ...(mv.atLeast(11) ? { forced_down: h.forced_down } : {}),
  };
}

export function hostsRouter(deps: {
  hosts: HostDirectory;
  servers: Pick<ServerService, 'onHosts'>;
  urls: Urls;
}): Router {
  const { hosts, servers, urls } = deps;
  const router = Router();

  const admin = (req: Parameters<Parameters<typeof route>[0]>[0], rule: string) =>
    requireAdmin(callerOf(req), rule);

  const findHypervisor = async (id: string): Promise<HostSummary> => {
    const found = (await hosts.list(null)).find((h) => String(h.id) === id || h.host === id);
    if (!found) throw notFound(`Hypervisor with ID '${id}' could not be found.`);
    return found;
  };

  /** Hypervisors whose hostname contains the pattern (as Nova's LIKE), 404 when none does. */
  const matchingHosts = async (pattern: string): Promise<HostSummary[]> => {
    const list = (await hosts.list(null)).filter((h) => h.host.includes(pattern));
    if (list.length === 0) throw notFound(`No hypervisor matching '${pattern}' could be found.`);
    return list;
  };

  /** Before 2.53 the pattern is a path segment (/os-hypervisors/{pattern}/search|servers). */
  const matching = async (req: Parameters<Parameters<typeof route>[0]>[0]): Promise<HostSummary[]> => {
    if (versionOf(req).atLeast(53)) throw notFound('The resource could not be found.');
    return matchingHosts(String(req.params.pattern));
  };

  /**
   * GET /os-hypervisors[/detail]: paged by id from 2.33 (limit, marker, hypervisors_links);
   * from 2.53 a hostname pattern (404 when nothing matches, never paged) and with_servers.
   */
  const listHypervisors = (detail: boolean) =>
    route(async (req, res) => {
      admin(req, detail ? 'os-hypervisors:list-detail' : 'os-hypervisors:list');
      const mv = versionOf(req);
      const pattern = mv.atLeast(53) ? queryParam(req, 'hypervisor_hostname_pattern') : null;
      const withServers = mv.atLeast(53) && truthy(queryParam(req, 'with_servers'));
      const paged = mv.atLeast(33);
      const limitParam = paged ? queryParam(req, 'limit') : null;
      const marker = paged ? queryParam(req, 'marker') : null;
      if (pattern !== null && (limitParam !== null || marker !== null)) {
        throw invalid(
          'Paging over hypervisors with the hypervisor_hostname_pattern query parameter is not supported.',
        );
      }
      let list = pattern !== null ? await matchingHosts(pattern) : await hosts.list(null);
      list.sort((a, b) => a.id - b.id);
      if (marker !== null) {
        const at = list.findIndex((h) => String(h.id) === marker);
        if (at < 0) throw invalid(`marker [${marker}] not found`);
        list = list.slice(at + 1);
      }
      const limit = paged && pattern === null ? parseLimit(limitParam) : Infinity;
      list = list.slice(0, limit);
      const onHost = withServers ? await servers.onHosts(list.map((h) => h.host)) : null;
      const hypervisors = list.map((h) => {
        const view = hypervisorView(h, mv, detail);
        const found = onHost?.get(h.host) ?? [];
        if (found.length > 0 || (onHost && mv.atLeast(75))) view.servers = found;
        return view;
      });
      const links =
        paged && pattern === null
          ? urls.pageLinks(
              detail ? 'os-hypervisors/detail' : 'os-hypervisors',
              passThroughOf(req.query),
              list.length,
              limit,
              () => String(list[list.length - 1]!.id),
            )
          : null;
      res.json({ hypervisors, ...(links ? { hypervisors_links: links } : {}) });
    });

  router.get('/os-hypervisors', listHypervisors(false));
  router.get('/os-hypervisors/detail', listHypervisors(true));

  router.get(
    '/os-hypervisors/statistics',
    route(async (req, res) => {
      admin(req, 'os-hypervisors:statistics');
      if (versionOf(req).atLeast(88)) throw notFound('The resource could not be found.');
      const list = await hosts.list(null);
      const sum = (f: (h: ReturnType<typeof usedOf>) => number) => list.reduce((s, h) => s + f(usedOf(h)), 0);
      res.json({
        hypervisor_statistics: {
          count: list.length,
          vcpus: sum((h) => h.vcpus),
          memory_mb: sum((h) => h.memory_mb),
          local_gb: sum((h) => h.local_gb),
          vcpus_used: sum((h) => h.vcpus_used),
          memory_mb_used: sum((h) => h.memory_mb_used),
          local_gb_used: sum((h) => h.local_gb_used),
          free_ram_mb: sum((h) => h.free_ram_mb),
          free_disk_gb: sum((h) => h.free_disk_gb),
          current_workload: sum((h) => h.current_workload),
          running_vms: sum((h) => h.running_vms),
          disk_available_least: sum((h) => h.disk_available_least),
        },
      });
    }),
  );

  router.get(
    '/os-hypervisors/:pattern/search',
    route(async (req, res) => {
      admin(req, 'os-hypervisors:search');
      const mv = versionOf(req);
      res.json({ hypervisors: (await matching(req)).map((h) => hypervisorView(h, mv, false)) });
    }),
  );

  router.get(
    '/os-hypervisors/:pattern/servers',
    route(async (req, res) => {
      admin(req, 'os-hypervisors:servers');
      const mv = versionOf(req);
      const list = await matching(req);
      const onHost = await servers.onHosts(list.map((h) => h.host));
      res.json({
        hypervisors: list.map((h) => {
          const found = onHost.get(h.host) ?? [];
          return { ...hypervisorView(h, mv, false), ...(found.length > 0 ? { servers: found } : {}) };
        }),
      });
    }),
  );

  // Nova reads a host's uptime from its virt driver, until 2.88 put it in the detail view;
  // Strato's agents do not report it, which Nova answers as a driver without the call does.
  router.get(
    '/os-hypervisors/:id/uptime',
    route(async (req) => {
      admin(req, 'os-hypervisors:uptime');
      if (versionOf(req).atLeast(88)) throw notFound('The resource could not be found.');
      await findHypervisor(String(req.params.id));
      throw new AppError('NotImplemented', 'The requested functionality is not supported.');
    }),
  );

  router.get(
    '/os-hypervisors/:id',
    route(async (req, res) => {
      admin(req, 'os-hypervisors:show');
      res.json({
        hypervisor: hypervisorView(await findHypervisor(String(req.params.id)), versionOf(req), true),
      });
    }),
  );

  router.get(
    '/os-services',
    route(async (req, res) => {
      admin(req, 'os-services:list');
      const mv = versionOf(req);
      const host = queryParam(req, 'host');
      const binary = queryParam(req, 'binary');
      const list = (await hosts.list(null)).filter(
        (h) => (!host || h.host === host) && (!binary || binary === 'nova-compute'),
      );
      res.json({ services: list.map((h) => serviceView(h, mv)) });
    }),
  );

  const serviceRef = { host: z.string().min(1).max(255), binary: z.string().min(1).max(255) };
  const legacyBody = z.strictObject({
    ...serviceRef,
    disabled_reason: z.string().min(1).max(255).optional(),
  });
  const forceDownBody = z.strictObject({ ...serviceRef, forced_down: novaBoolean.optional() });

  /** Only compute services can be changed, as in Nova: the rest are not Strato's to switch. */
  const computeOnly = (binary: string) => {
    if (binary !== 'nova-compute') {
      throw invalid(
        `Updating a ${binary} service is not supported. Only nova-compute services can be updated.`,
      );
    }
  };

  /** PUT /os-services/{action} {host, binary, …}: admin only, from 2.<since> until 2.53 took ids. */
  const legacyAction = <T extends { host: string; binary: string }>(
    action: string,
    since: number,
    schema: z.ZodType<T>,
    handle: (body: T) => Promise<Record<string, unknown>>,
  ) =>
    router.put(
      `/os-services/${action}`,
      route(async (req, res) => {
        admin(req, 'os-services:update');
        const mv = versionOf(req);
        if (!mv.atLeast(since) || mv.atLeast(53)) throw notFound('Unknown action');
        res.json({ service: await handle(parseBody(schema, req.body)) });
      }),
    );

  for (const action of ['enable', 'disable', 'disable-log-reason'] as const) {
    legacyAction(action, 0, legacyBody, async (body) => {
      if (action === 'disable-log-reason' && body.disabled_reason === undefined) {
        throw invalid('Missing disabled reason field');
      }
      computeOnly(body.binary);
      const reason = action === 'disable-log-reason' ? (body.disabled_reason ?? null) : null;
      const h = await hosts.setEnabled(body.host, action === 'enable', reason);
      return {
        host: h.host,
        binary: 'nova-compute',
        status: h.status,
        ...(reason ? { disabled_reason: h.disabled_reason } : {}),
      };
    });
  }

  legacyAction('force-down', 11, forceDownBody, async (body) => {
    if (body.forced_down === undefined) throw invalid('Missing forced_down field');
    computeOnly(body.binary);
    const h = await hosts.setForcedDown(body.host, body.forced_down);
    return { host: h.host, binary: 'nova-compute', forced_down: h.forced_down };
  });

  const updateBody = z.strictObject({
    status: z.enum(['enabled', 'disabled']).optional(),
    disabled_reason: z.string().min(1).max(255).optional(),
    forced_down: novaBoolean.optional(),
  });

  router.put(
    '/os-services/:id',
    route(async (req, res) => {
      admin(req, 'os-services:update');
      const mv = versionOf(req);
      if (!mv.atLeast(53)) throw notFound('Unknown action');
      const body = parseBody(updateBody, req.body);
      if (body.disabled_reason && body.status === 'enabled') {
        throw invalid("Specifying 'disabled_reason' with status 'enabled' is invalid.");
      }
      if (body.status === undefined && body.forced_down === undefined) {
        throw invalid("No updates were requested. Fields 'status' or 'forced_down' should be specified.");
      }
      const id = String(req.params.id);
      const found = (await hosts.list(null)).find((h) => String(h.id) === id);
      if (!found) throw notFound(`Service ${id} not found.`);
      let h = found;
      if (body.status !== undefined) {
        const reason = body.status === 'disabled' ? (body.disabled_reason ?? null) : null;
        h = await hosts.setEnabled(found.host, body.status === 'enabled', reason);
      }
      if (body.forced_down !== undefined) h = await hosts.setForcedDown(found.host, body.forced_down);
      res.json({ service: serviceView(h, mv) });
    }),
  );

  router.get(
    '/os-aggregates',
    route(async (req, res) => {
      admin(req, 'os-aggregates:index');
      res.json({ aggregates: [] });
    }),
  );

  router.get(
    '/os-aggregates/:id',
    route(async (req) => {
      admin(req, 'os-aggregates:show');
      throw notFound(`Aggregate ${String(req.params.id)} could not be found.`);
    }),
  );

  const zones = async () => {
    const list = await hosts.list(null);
    const byZone = new Map<string, HostSummary[]>();
    for (const h of list) byZone.set(h.availability_zone, [...(byZone.get(h.availability_zone) ?? []), h]);
    return byZone;
  };

  router.get(
    '/os-availability-zone',
    route(async (req, res) => {
      callerOf(req);
      const byZone = await zones();
      res.json({
        availabilityZoneInfo: [...byZone.entries()].map(([zoneName, members]) => ({
          zoneName,
          zoneState: { available: members.some((h) => h.state === 'up' && h.status === 'enabled') },
          hosts: null,
        })),
      });
    }),
  );

  router.get(
    '/os-availability-zone/detail',
    route(async (req, res) => {
      admin(req, 'os-availability-zone:detail');
      const byZone = await zones();
      res.json({
        availabilityZoneInfo: [...byZone.entries()].map(([zoneName, members]) => ({
          zoneName,
          zoneState: { available: members.some((h) => h.state === 'up' && h.status === 'enabled') },
          hosts: Object.fromEntries(
            members.map((h) => [
              h.host,
              {
                'nova-compute': {
                  available: h.status === 'enabled',
                  active: h.state === 'up',
                  updated_at: nova(h.updated_at),
                },
              },
            ]),
          ),
        })),
      });
    }),
  );

  return router;
}
