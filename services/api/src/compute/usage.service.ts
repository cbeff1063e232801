/**
 * os-simple-tenant-usage: hours of vCPU, RAM and disk per project over a period, from the
 * instances' launched_at and terminated_at (deleted instances stay as rows for this).
 */
import type { DataSource } from '@strato/db';
import { invalid } from '@strato/errors';
import { InstanceEntity, type InstanceRow } from './store';

export interface ServerUsage {
  hours: number;
  flavor: string;
  instance_id: string;
  name: string;
  tenant_id: string;
  memory_mb: number;
  local_gb: number;
  vcpus: number;
  started_at: string;
  ended_at: string | null;
  state: string;
  uptime: number;
}

export interface TenantUsage {
  tenant_id: string;
  server_usages: ServerUsage[];
  total_local_gb_usage: number;
  total_vcpus_usage: number;
  total_memory_mb_usage: number;
  total_hours: number;
  start: string;
  stop: string;
}

/** Nova's timestamp style in usage: no zone, microseconds. */
export function novaTime(iso: string): string {
  return iso.replace(/Z$/, '').replace(/\.(\d{3})$/, '.$1000');
}

export function usageOf(row: InstanceRow, start: Date, end: Date, now: Date): ServerUsage | null {
  if (!row.launchedAt) return null;
  const launched = new Date(row.launchedAt);
  const terminated = row.terminatedAt ? new Date(row.terminatedAt) : null;
  if (launched >= end || (terminated && terminated <= start)) return null;
  const from = launched > start ? launched : start;
  const to = terminated && terminated < end ? terminated : end < now ? end : now;
  const hours = Math.max(0, to.getTime() - from.getTime()) / 3_600_000;
  return {
    hours,
    flavor: row.flavor.name,
    instance_id: row.id,
    name: row.name,
    tenant_id: row.projectId,
    memory_mb: row.ramMb,
    local_gb: row.diskGb,
    vcpus: row.vcpus,
    started_at: novaTime(row.launchedAt),
    ended_at: row.terminatedAt ? novaTime(row.terminatedAt) : null,
    state: terminated ? 'terminated' : row.vmState,
    uptime: Math.floor(((terminated ?? now).getTime() - launched.getTime()) / 1000),
  };
}

export class UsageService {
  constructor(private readonly deps: { db: DataSource; now?: () => Date }) {}

  /**
   * The usage of one project (or of all) over [start, end). With `page` (microversion 2.40 on),
   * at most `limit` instances are counted, in (project, instance id) order after the `marker`
   * instance; a project's usage can then be split across pages, as in Nova.
   */
  async usage(
    projectId: string | null,
    start: Date,
    end: Date,
    page?: { limit: number; marker: string | null },
  ): Promise<TenantUsage[]> {
    const now = (this.deps.now ?? (() => new Date()))();
    const instances = this.deps.db.getRepository(InstanceEntity);
    const qb = instances
      .createQueryBuilder('i')
      .where('i.launchedAt IS NOT NULL AND i.launchedAt < :end', { end: end.toISOString() })
      .andWhere('(i.terminatedAt IS NULL OR i.terminatedAt > :start)', { start: start.toISOString() });
    if (projectId !== null) qb.andWhere('i.projectId = :projectId', { projectId });
    if (page?.marker != null) {
      // Within the project asked about: another project's instance ids stay unknown.
      const at = await instances.findOne({
        where: { id: page.marker, ...(projectId !== null ? { projectId } : {}) },
        select: { id: true, projectId: true },
      });
      if (!at) throw invalid(`Marker ${page.marker} could not be found.`);
      qb.andWhere('(i.projectId > :markerProject OR (i.projectId = :markerProject AND i.id > :markerId))', {
        markerProject: at.projectId,
        markerId: at.id,
      });
    }
    qb.orderBy('i.projectId', 'ASC').addOrderBy('i.id', 'ASC');
    if (page) qb.take(page.limit);
    const rows = await qb.getMany();
    const byProject = new Map<string, ServerUsage[]>();
    for (const row of rows) {
      const u = usageOf(row, start, end, now);
      if (u) byProject.set(row.projectId, [...(byProject.get(row.projectId) ?? []), u]);
    }
    const stop = end < now ? end : now;
    return [...byProject.entries()].map(([tenant, usages]) => ({
      tenant_id: tenant,
      server_usages: usages,
      total_local_gb_usage: usages.reduce((s, u) => s + u.local_gb * u.hours, 0),
      total_vcpus_usage: usages.reduce((s, u) => s + u.vcpus * u.hours, 0),
      total_memory_mb_usage: usages.reduce((s, u) => s + u.memory_mb * u.hours, 0),
      total_hours: usages.reduce((s, u) => s + u.hours, 0),
      start: novaTime(start.toISOString()),
      stop: novaTime(stop.toISOString()),
    }));
  }
}
