/** /limits, /os-quota-sets and /os-simple-tenant-usage. */
import { Router, type Request } from 'express';
import { z } from 'zod';
import { route } from '@strato/http';
import { forbidden, invalid } from '@strato/errors';
import type { Caller } from '../domain/caller';
import type { ApiVersion } from '../domain/microversion';
import type { ProjectDirectory } from '../domain/ports';
import { isQuotaResource, quotasAt, type QuotaLimits } from '../domain/quota';
import { parseLimit, passThroughOf, truthy } from '../domain/server-query';
import { requireAdmin } from '../flavor.service';
import type { QuotaService, ProjectUsage } from '../quota.service';
import type { TenantUsage, UsageService } from '../usage.service';
import { callerOf, parseBody, queryParam, requireKnownProject, versionOf, type Urls } from './context';

/** The quota set of a microversion, each resource's entry made by `value`. */
function quotaSet(limits: QuotaLimits, mv: ApiVersion, value: (r: string, limit: number) => unknown) {
  return Object.fromEntries(quotasAt(mv.minor).map((r) => [r, value(r, limits[r])]));
}

/** The largest limit Nova stores (a 32-bit signed integer). */
const MAX_QUOTA = 2 ** 31 - 1;

function ownOrAdmin(caller: Caller, projectId: string): void {
  if (projectId !== caller.projectId && !caller.admin) {
    throw forbidden(`Policy doesn't allow os_compute_api:os-quota-sets:show to be performed.`);
  }
}

function usedOf(usage: ProjectUsage, resource: string): number {
  switch (resource) {
    case 'instances':
      return usage.instances;
    case 'cores':
      return usage.cores;
    case 'ram':
      return usage.ram;
    case 'server_groups':
      return usage.server_groups;
    default:
      return 0;
  }
}

/** Nova accepts 2026-01-01T00:00:00, with fractions, or with a space. */
function parseUsageTime(name: string, value: string | null, fallback: Date): Date {
  if (value === null) return fallback;
  const d = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value.replace(' ', 'T')}Z`);
  if (Number.isNaN(d.getTime())) throw invalid(`Invalid ${name} time [${value}].`);
  return d;
}

export function quotasRouter(deps: {
  quotas: QuotaService;
  usage: UsageService;
  urls: Urls;
  projects: ProjectDirectory;
}): Router {
  const { quotas } = deps;
  const router = Router();

  router.get(
    '/limits',
    route(async (req, res) => {
      const caller = callerOf(req);
      const mv = versionOf(req);
      const asked = queryParam(req, 'tenant_id');
      if (asked && asked !== caller.projectId && !caller.admin) {
        throw forbidden("Policy doesn't allow os_compute_api:limits:other_project to be performed.");
      }
      const projectId = asked ?? caller.projectId;
      const [limits, usage] = await Promise.all([quotas.limits(projectId), quotas.usage(projectId)]);
      const absolute: Record<string, number> = {
        maxTotalInstances: limits.instances,
        maxTotalCores: limits.cores,
        maxTotalRAMSize: limits.ram,
        maxServerMeta: limits.metadata_items,
        maxImageMeta: limits.metadata_items,
        ...(mv.atLeast(57)
          ? {}
          : {
              maxPersonality: limits.injected_files,
              maxPersonalitySize: limits.injected_file_content_bytes,
            }),
        maxTotalKeypairs: limits.key_pairs,
        maxServerGroups: limits.server_groups,
        maxServerGroupMembers: limits.server_group_members,
        ...(mv.atLeast(36)
          ? {}
          : {
              maxTotalFloatingIps: limits.floating_ips,
              maxSecurityGroups: limits.security_groups,
              maxSecurityGroupRules: limits.security_group_rules,
            }),
        totalRAMUsed: usage.ram,
        totalCoresUsed: usage.cores,
        totalInstancesUsed: usage.instances,
        ...(mv.atLeast(36) ? {} : { totalFloatingIpsUsed: 0, totalSecurityGroupsUsed: 0 }),
        totalServerGroupsUsed: usage.server_groups,
      };
      res.json({ limits: { rate: [], absolute } });
    }),
  );

  router.get(
    '/os-quota-sets/:projectId/defaults',
    route(async (req, res) => {
      callerOf(req);
      const projectId = String(req.params.projectId);
      res.json({ quota_set: { id: projectId, ...quotaSet(quotas.defaults, versionOf(req), (_r, l) => l) } });
    }),
  );

  router.get(
    '/os-quota-sets/:projectId/detail',
    route(async (req, res) => {
      const caller = callerOf(req);
      const projectId = String(req.params.projectId);
      ownOrAdmin(caller, projectId);
      const [limits, usage] = await Promise.all([quotas.limits(projectId), quotas.usage(projectId)]);
      const set = quotaSet(limits, versionOf(req), (r, limit) => ({
        in_use: usedOf(usage, r),
        limit,
        reserved: 0,
      }));
      res.json({ quota_set: { id: projectId, ...set } });
    }),
  );

  router.get(
    '/os-quota-sets/:projectId',
    route(async (req, res) => {
      const caller = callerOf(req);
      const projectId = String(req.params.projectId);
      ownOrAdmin(caller, projectId);
      const limits = await quotas.limits(projectId);
      res.json({ quota_set: { id: projectId, ...quotaSet(limits, versionOf(req), (_r, l) => l) } });
    }),
  );

  const updateSchema = z.object({
    quota_set: z.record(
      z.string(),
      z.union([
        z.int(),
        z
          .string()
          .regex(/^-?\d+$/)
          .transform(Number),
        z.boolean(),
      ]),
    ),
  });

  router.put(
    '/os-quota-sets/:projectId',
    route(async (req, res) => {
      const caller = callerOf(req);
      requireAdmin(caller, 'os-quota-sets:update');
      const mv = versionOf(req);
      const { quota_set } = parseBody(updateSchema, req.body);
      const projectId = String(req.params.projectId);
      await requireKnownProject(deps.projects, projectId);
      const force = truthy(String(quota_set.force ?? 'false'));
      const settable = quotasAt(mv.minor);
      const usage = force ? null : await quotas.usage(projectId);
      const changes: Partial<QuotaLimits> = {};
      for (const [key, value] of Object.entries(quota_set)) {
        if (key === 'force' || typeof value === 'boolean') continue;
        if (!isQuotaResource(key) || !settable.includes(key)) throw invalid(`Bad key(s) ${key} in quota_set`);
        if (value < -1) throw invalid(`Quota limit ${value} for ${key} must be -1 or greater.`);
        if (value > MAX_QUOTA)
          throw invalid(`Quota limit ${value} for ${key} must be less than or equal to ${MAX_QUOTA}.`);
        const used = usage ? usedOf(usage, key) : 0;
        if (value !== -1 && value < used) {
          throw invalid(
            `Quota limit ${value} for ${key} must be greater than or equal to already used and reserved ${used}.`,
          );
        }
        changes[key] = value;
      }
      const limits = await quotas.update(projectId, changes);
      res.json({ quota_set: quotaSet(limits, versionOf(req), (_r, l) => l) });
    }),
  );

  router.delete(
    '/os-quota-sets/:projectId',
    route(async (req, res) => {
      requireAdmin(callerOf(req), 'os-quota-sets:delete');
      await quotas.reset(String(req.params.projectId));
      res.status(202).end();
    }),
  );

  const period = (req: Request) => {
    const now = new Date();
    const end = parseUsageTime('end', queryParam(req, 'end'), now);
    const start = parseUsageTime('start', queryParam(req, 'start'), new Date(end.getTime() - 24 * 3_600_000));
    if (start > end) throw invalid('Invalid start time. The start time cannot occur after the end time.');
    return { start, end };
  };

  /** From 2.40, usage is paged by instance (limit, marker) with a next link on a full page. */
  const usagePage = (req: Request) =>
    versionOf(req).atLeast(40)
      ? { limit: parseLimit(queryParam(req, 'limit')), marker: queryParam(req, 'marker') }
      : undefined;
  const usageLinks = (collection: string, req: Request, usages: TenantUsage[], limit: number) => {
    const counted = usages.flatMap((u) => u.server_usages);
    return deps.urls.pageLinks(
      collection,
      passThroughOf(req.query),
      counted.length,
      limit,
      () => counted[counted.length - 1]!.instance_id,
    );
  };

  router.get(
    '/os-simple-tenant-usage',
    route(async (req, res) => {
      const caller = callerOf(req);
      requireAdmin(caller, 'os-simple-tenant-usage:list');
      const { start, end } = period(req);
      const detailed = truthy(queryParam(req, 'detailed'));
      const page = usagePage(req);
      const usages = await deps.usage.usage(null, start, end, page);
      const body: Record<string, unknown> = {
        tenant_usages: usages.map(({ server_usages, ...totals }) =>
          detailed ? { ...totals, server_usages } : totals,
        ),
      };
      const links = page && usageLinks('os-simple-tenant-usage', req, usages, page.limit);
      if (links) body.tenant_usages_links = links;
      res.json(body);
    }),
  );

  router.get(
    '/os-simple-tenant-usage/:projectId',
    route(async (req, res) => {
      const caller = callerOf(req);
      const projectId = String(req.params.projectId);
      if (projectId !== caller.projectId) requireAdmin(caller, 'os-simple-tenant-usage:show');
      const { start, end } = period(req);
      const page = usagePage(req);
      const usages = await deps.usage.usage(projectId, start, end, page);
      const body: Record<string, unknown> = { tenant_usage: usages[0] ?? {} };
      const links =
        page &&
        usageLinks(`os-simple-tenant-usage/${encodeURIComponent(projectId)}`, req, usages, page.limit);
      if (links) body.tenant_usage_links = links;
      res.json(body);
    }),
  );

  return router;
}
