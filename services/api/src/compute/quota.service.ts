/**
 * Quotas: per-project limits (defaults from configuration, overrides in the quotas table) and
 * usage counted from the instances, key pairs and server groups themselves (Nova's counting
 * quotas). Checks run inside the caller's transaction, serialised per project, so two racing
 * boots cannot both take the last slot.
 */
import { inTransaction, type DataSource, type EntityManager } from '@strato/db';
import {
  NOVA_DEFAULT_QUOTAS,
  QUOTA_RESOURCES,
  type InstanceUsage,
  type QuotaLimits,
  type QuotaResource,
} from './domain/quota';
import { InstanceEntity, KeypairEntity, QuotaEntity, ServerGroupEntity } from './store';

export interface ProjectUsage extends InstanceUsage {
  server_groups: number;
}

export class QuotaService {
  constructor(private readonly deps: { db: DataSource; defaults?: Partial<QuotaLimits> }) {}

  get defaults(): QuotaLimits {
    return { ...NOVA_DEFAULT_QUOTAS, ...this.deps.defaults };
  }

  async limits(projectId: string, em: EntityManager = this.deps.db.manager): Promise<QuotaLimits> {
    const limits = this.defaults;
    const rows = await em.find(QuotaEntity, { where: { projectId } });
    for (const row of rows) {
      if ((QUOTA_RESOURCES as readonly string[]).includes(row.resource)) {
        limits[row.resource as QuotaResource] = row.hardLimit;
      }
    }
    return limits;
  }

  /** Serialises quota checks of one project until the transaction ends (PostgreSQL). */
  async lockProject(em: EntityManager, projectId: string): Promise<void> {
    if (em.connection.options.type === 'postgres') {
      await em.query('SELECT pg_advisory_xact_lock(hashtext($1))', [QuotaService.lockKey(projectId)]);
    }
  }

  async instanceUsage(projectId: string, em: EntityManager = this.deps.db.manager): Promise<InstanceUsage> {
    const raw = await em
      .createQueryBuilder(InstanceEntity, 'i')
      .select('COUNT(*)', 'instances')
      .addSelect('COALESCE(SUM(i.vcpus), 0)', 'cores')
      .addSelect('COALESCE(SUM(i.ramMb), 0)', 'ram')
      .where('i.projectId = :projectId AND i.deleted = :deleted', { projectId, deleted: false })
      .getRawOne<{ instances: string | number; cores: string | number; ram: string | number }>();
    return {
      instances: Number(raw?.instances ?? 0),
      cores: Number(raw?.cores ?? 0),
      ram: Number(raw?.ram ?? 0),
    };
  }

  /**
   * The project's limits and its instance usage in one statement (one round trip in the
   * admission transaction): the quota overrides, then one row of usage counts. As SQL with
   * the driver's placeholders, for limitsAndUsage or a pipelined transaction.
   */
  limitsAndUsageQuery(em: EntityManager, projectId: string): [string, unknown[]] {
    return em.connection.driver.escapeQueryWithParameters(
      `SELECT resource, hard_limit AS n, NULL AS cores, NULL AS ram FROM quotas WHERE project_id = :projectId
       UNION ALL
       SELECT NULL, COUNT(*), COALESCE(SUM(vcpus), 0), COALESCE(SUM(ram_mb), 0)
         FROM instances WHERE project_id = :projectId AND deleted = :deleted`,
      { projectId, deleted: false },
    );
  }

  /**
   * For the end of an admission that wrote first (PostgreSQL): a statement that raises
   * QUOTA_GUARD_MESSAGE (compute_quota_guard) unless the project's instances, cores and ram,
   * counted with the rows just written, are within its limits, and `metadataItems` (the most
   * any of those boots carries) within metadata_items. -1 is unlimited, as everywhere.
   */
  instanceGuardQuery(em: EntityManager, projectId: string, metadataItems: number): [string, unknown[]] {
    const d = this.defaults;
    const limit = (resource: string) =>
      `COALESCE(MAX(hard_limit) FILTER (WHERE resource = '${resource}'), :${resource})`;
    return em.connection.driver.escapeQueryWithParameters(
      `SELECT compute_quota_guard(
                (u.instances <= l.instances OR l.instances < 0) AND (u.cores <= l.cores OR l.cores < 0)
            AND (u.ram <= l.ram OR l.ram < 0)
            AND (:metadataItems <= l.metadata_items OR l.metadata_items < 0)) AS ok
         FROM (SELECT COUNT(*) AS instances, COALESCE(SUM(vcpus), 0) AS cores, COALESCE(SUM(ram_mb), 0) AS ram
                 FROM instances WHERE project_id = :projectId AND deleted = :deleted) u,
              (SELECT ${limit('instances')} AS instances, ${limit('cores')} AS cores, ${limit('ram')} AS ram,
                      ${limit('metadata_items')} AS metadata_items
                 FROM quotas WHERE project_id = :projectId) l`,
      {
        projectId,
        deleted: false,
        metadataItems,
        instances: d.instances,
        cores: d.cores,
        ram: d.ram,
        metadata_items: d.metadata_items,
      },
    );
  }

  async limitsAndUsage(
    projectId: string,
    em: EntityManager,
  ): Promise<{ limits: QuotaLimits; usage: InstanceUsage }> {
    const [sql, params] = this.limitsAndUsageQuery(em, projectId);
    return this.parseLimitsAndUsage(await em.query(sql, params));
  }

  /** The rows of limitsAndUsageQuery as limits (defaults overridden) and usage. */
  parseLimitsAndUsage(rows: Record<string, unknown>[]): { limits: QuotaLimits; usage: InstanceUsage } {
    const limits = this.defaults;
    const usage: InstanceUsage = { instances: 0, cores: 0, ram: 0 };
    for (const row of rows) {
      const resource = row.resource as string | null;
      if (resource === null) {
        usage.instances = Number(row.n);
        usage.cores = Number(row.cores);
        usage.ram = Number(row.ram);
      } else if ((QUOTA_RESOURCES as readonly string[]).includes(resource)) {
        limits[resource as QuotaResource] = Number(row.n);
      }
    }
    return { limits, usage };
  }

  /** The advisory lock key that serialises a project's quota-checked changes (PostgreSQL). */
  static lockKey(projectId: string): string {
    return `compute-quota:${projectId}`;
  }

  async usage(projectId: string, em: EntityManager = this.deps.db.manager): Promise<ProjectUsage> {
    const [instances, serverGroups] = await Promise.all([
      this.instanceUsage(projectId, em),
      em.count(ServerGroupEntity, { where: { projectId } }),
    ]);
    return { ...instances, server_groups: serverGroups };
  }

  keypairCount(userId: string, em: EntityManager = this.deps.db.manager): Promise<number> {
    return em.count(KeypairEntity, { where: { userId } });
  }

  async update(projectId: string, changes: Partial<QuotaLimits>): Promise<QuotaLimits> {
    await inTransaction(this.deps.db, async (em) => {
      for (const [resource, hardLimit] of Object.entries(changes)) {
        await em.delete(QuotaEntity, { projectId, resource });
        await em.insert(QuotaEntity, { projectId, resource, hardLimit });
      }
    });
    return this.limits(projectId);
  }

  async reset(projectId: string): Promise<void> {
    await this.deps.db.getRepository(QuotaEntity).delete({ projectId });
  }
}
