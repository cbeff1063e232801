/** Server groups (os-server-groups): affinity policies that the scheduler enforces at boot. */
import { randomUUID } from 'node:crypto';
import { inTransaction, type DataSource } from '@strato/db';
import { notFound } from '@strato/errors';
import type { Caller } from './domain/caller';
import { assertWithin } from './domain/quota';
import type { QuotaService } from './quota.service';
import { InstanceEntity, ServerGroupEntity, type ServerGroupRow } from './store';

export type GroupWithMembers = ServerGroupRow & { members: string[] };

export class ServerGroupService {
  constructor(private readonly deps: { db: DataSource; quotas: QuotaService }) {}

  async create(
    caller: Caller,
    input: { name: string; policy: string; rules: Record<string, unknown> },
  ): Promise<GroupWithMembers> {
    return inTransaction(this.deps.db, async (em) => {
      await this.deps.quotas.lockProject(em, caller.projectId);
      const limits = await this.deps.quotas.limits(caller.projectId, em);
      const used = await em.count(ServerGroupEntity, { where: { projectId: caller.projectId } });
      assertWithin('server_groups', limits.server_groups, used, 1);
      const row: ServerGroupRow = {
        id: randomUUID(),
        name: input.name,
        projectId: caller.projectId,
        userId: caller.userId,
        policy: input.policy,
        rules: input.rules,
        createdAt: new Date().toISOString(),
      };
      await em.insert(ServerGroupEntity, row as never);
      return { ...row, members: [] };
    });
  }

  private async withMembers(rows: ServerGroupRow[]): Promise<GroupWithMembers[]> {
    if (rows.length === 0) return [];
    const members = await this.deps.db
      .getRepository(InstanceEntity)
      .createQueryBuilder('i')
      .select(['i.id', 'i.serverGroupId'])
      .where('i.serverGroupId IN (:...ids) AND i.deleted = :deleted', {
        ids: rows.map((r) => r.id),
        deleted: false,
      })
      .orderBy('i.seq', 'ASC')
      .getMany();
    return rows.map((r) => ({
      ...r,
      members: members.filter((m) => m.serverGroupId === r.id).map((m) => m.id),
    }));
  }

  async list(caller: Caller, allProjects: boolean): Promise<GroupWithMembers[]> {
    const repo = this.deps.db.getRepository(ServerGroupEntity);
    const rows =
      allProjects && caller.admin
        ? await repo.find({ order: { createdAt: 'ASC' } })
        : await repo.find({ where: { projectId: caller.projectId }, order: { createdAt: 'ASC' } });
    return this.withMembers(rows);
  }

  async get(caller: Caller, id: string): Promise<GroupWithMembers> {
    const row = await this.deps.db.getRepository(ServerGroupEntity).findOne({ where: { id } });
    if (!row || (row.projectId !== caller.projectId && !caller.admin)) {
      throw notFound(`Instance group ${id} could not be found.`);
    }
    return (await this.withMembers([row]))[0]!;
  }

  async delete(caller: Caller, id: string): Promise<void> {
    await this.get(caller, id);
    await this.deps.db.getRepository(ServerGroupEntity).delete({ id });
  }
}
