/**
 * Flavors: the public ones plus private ones a project was given access to; admins manage
 * them, their extra_specs and their access lists. Flavors are looked up by id only (the
 * client falls back to listing for names, as Nova expects).
 */
import { randomUUID } from 'node:crypto';
import { RefreshingMap } from '@strato/cache';
import { inTransaction, type DataSource } from '@strato/db';
import { conflict, forbidden, invalid, notFound } from '@strato/errors';
import type { Caller } from './domain/caller';
import { FlavorAccessEntity, FlavorEntity, type FlavorRow } from './store';

export interface FlavorListFilter {
  /** null: the default for the caller; true/false: only public / only private (admin). */
  isPublic: boolean | null;
  minRam: number | null;
  minDisk: number | null;
  limit: number;
  marker: string | null;
}

export interface NewFlavor {
  id: string | null;
  name: string;
  ram: number;
  vcpus: number;
  disk: number;
  ephemeral: number;
  swap: number;
  rxtxFactor: number;
  isPublic: boolean;
  description: string | null;
}

const flavorNotFound = (id: string) => notFound(`Flavor ${id} could not be found.`);

export class FlavorService {
  /**
   * Flavors by id for get() (every boot reads one): fresh for 2 s, then served while one
   * background read refreshes them (up to 30 s idle), so a boot never waits on the database
   * for a flavor just used; any change made through this service clears it. Another api
   * process's change shows here within about 2 s of steady use.
   */
  private readonly byId = new RefreshingMap<FlavorRow | null>({
    freshMs: 2000,
    maxStaleMs: 30_000,
    serveStale: (row) => row !== null,
  });

  constructor(private readonly deps: { db: DataSource }) {}

  private get flavors() {
    return this.deps.db.getRepository(FlavorEntity);
  }

  private async projectsWithAccess(flavorId: string): Promise<string[]> {
    const rows = await this.deps.db.getRepository(FlavorAccessEntity).find({ where: { flavorId } });
    return rows.map((r) => r.projectId);
  }

  private async canSee(caller: Caller, flavor: FlavorRow): Promise<boolean> {
    if (flavor.isPublic || caller.admin) return true;
    return (await this.projectsWithAccess(flavor.id)).includes(caller.projectId);
  }

  /** A flavor the caller may see; NotFound otherwise. */
  async get(caller: Caller, id: string): Promise<FlavorRow> {
    const flavor = await this.byId.get(id, () => this.flavors.findOne({ where: { id } }));
    if (!flavor || !(await this.canSee(caller, flavor))) throw flavorNotFound(id);
    return flavor;
  }

  async list(caller: Caller, filter: FlavorListFilter): Promise<FlavorRow[]> {
    let rows = await this.flavors.find({ order: { id: 'ASC' } });
    rows.sort((a, b) => compareFlavorIds(a.id, b.id));
    if (caller.admin) {
      if (filter.isPublic !== null) rows = rows.filter((f) => f.isPublic === filter.isPublic);
    } else {
      const access = await this.deps.db
        .getRepository(FlavorAccessEntity)
        .find({ where: { projectId: caller.projectId } });
      const mine = new Set(access.map((a) => a.flavorId));
      rows = rows.filter((f) => (f.isPublic && filter.isPublic !== false) || mine.has(f.id));
    }
    if (filter.minRam !== null) rows = rows.filter((f) => f.ramMb >= filter.minRam!);
    if (filter.minDisk !== null) rows = rows.filter((f) => f.diskGb >= filter.minDisk!);
    if (filter.marker !== null) {
      const at = rows.findIndex((f) => f.id === filter.marker);
      if (at < 0) throw invalid(`marker [${filter.marker}] not found`);
      rows = rows.slice(at + 1);
    }
    return rows.slice(0, filter.limit);
  }

  async create(caller: Caller, input: NewFlavor): Promise<FlavorRow> {
    try {
      requireAdmin(caller, 'os-flavor-manage:create');
      const id = input.id ?? randomUUID();
      return await inTransaction(this.deps.db, async (em) => {
        if (await em.findOne(FlavorEntity, { where: { id } }))
          throw conflict(`Flavor with ID ${id} already exists.`);
        if (await em.findOne(FlavorEntity, { where: { name: input.name } })) {
          throw conflict(`Flavor with name ${input.name} already exists.`);
        }
        const row: FlavorRow = {
          id,
          name: input.name,
          vcpus: input.vcpus,
          ramMb: input.ram,
          diskGb: input.disk,
          ephemeralGb: input.ephemeral,
          swapMb: input.swap,
          rxtxFactor: input.rxtxFactor,
          isPublic: input.isPublic,
          disabled: false,
          description: input.description,
          extraSpecs: {},
          createdAt: new Date().toISOString(),
        };
        await em.insert(FlavorEntity, row);
        return row;
      });
    } finally {
      // After the change: a read made meanwhile may have cached the row as it was.
      this.byId.clear();
    }
  }

  async update(caller: Caller, id: string, description: string | null): Promise<FlavorRow> {
    try {
      requireAdmin(caller, 'os-flavor-manage:update');
      const flavor = await this.get(caller, id);
      await this.flavors.update({ id }, { description });
      return { ...flavor, description };
    } finally {
      // After the change: a read made meanwhile may have cached the row as it was.
      this.byId.clear();
    }
  }

  async delete(caller: Caller, id: string): Promise<void> {
    try {
      requireAdmin(caller, 'os-flavor-manage:delete');
      await inTransaction(this.deps.db, async (em) => {
        const res = await em.delete(FlavorEntity, { id });
        if (!res.affected) throw flavorNotFound(id);
        await em.delete(FlavorAccessEntity, { flavorId: id });
      });
    } finally {
      // After the change: a read made meanwhile may have cached the row as it was.
      this.byId.clear();
    }
  }

  async extraSpecs(caller: Caller, id: string): Promise<Record<string, string>> {
    return (await this.get(caller, id)).extraSpecs;
  }

  async setExtraSpecs(
    caller: Caller,
    id: string,
    specs: Record<string, string>,
  ): Promise<Record<string, string>> {
    try {
      requireAdmin(caller, 'os-flavor-extra-specs:create');
      return await inTransaction(this.deps.db, async (em) => {
        const flavor = await em.findOne(FlavorEntity, { where: { id } });
        if (!flavor) throw flavorNotFound(id);
        const merged = { ...flavor.extraSpecs, ...specs };
        await em.update(FlavorEntity, { id }, { extraSpecs: merged });
        return specs;
      });
    } finally {
      // After the change: a read made meanwhile may have cached the row as it was.
      this.byId.clear();
    }
  }

  async deleteExtraSpec(caller: Caller, id: string, key: string): Promise<void> {
    try {
      requireAdmin(caller, 'os-flavor-extra-specs:delete');
      await inTransaction(this.deps.db, async (em) => {
        const flavor = await em.findOne(FlavorEntity, { where: { id } });
        if (!flavor) throw flavorNotFound(id);
        if (!Object.hasOwn(flavor.extraSpecs, key)) {
          throw notFound(`Flavor ${id} has no extra specs with key ${key}.`);
        }
        const { [key]: _gone, ...rest } = flavor.extraSpecs;
        await em.update(FlavorEntity, { id }, { extraSpecs: rest });
      });
    } finally {
      // After the change: a read made meanwhile may have cached the row as it was.
      this.byId.clear();
    }
  }

  async accessList(caller: Caller, id: string): Promise<string[]> {
    requireAdmin(caller, 'os-flavor-access');
    const flavor = await this.get(caller, id);
    if (flavor.isPublic) throw notFound('Access list not available for public flavors.');
    return this.projectsWithAccess(id);
  }

  async addAccess(caller: Caller, id: string, projectId: string): Promise<string[]> {
    try {
      requireAdmin(caller, 'os-flavor-access:add_tenant_access');
      const flavor = await this.get(caller, id);
      if (flavor.isPublic) throw conflict('Can not add access to a public flavor.');
      await inTransaction(this.deps.db, async (em) => {
        if (await em.findOne(FlavorAccessEntity, { where: { flavorId: id, projectId } })) {
          throw conflict(
            `Flavor access already exists for flavor ${id} and project ${projectId} combination.`,
          );
        }
        await em.insert(FlavorAccessEntity, { flavorId: id, projectId });
      });
      return this.projectsWithAccess(id);
    } finally {
      // After the change: a read made meanwhile may have cached the row as it was.
      this.byId.clear();
    }
  }

  async removeAccess(caller: Caller, id: string, projectId: string): Promise<string[]> {
    try {
      requireAdmin(caller, 'os-flavor-access:remove_tenant_access');
      await this.get(caller, id);
      const res = await this.deps.db.getRepository(FlavorAccessEntity).delete({ flavorId: id, projectId });
      if (!res.affected) {
        throw notFound(`Flavor access not found for ${id} / ${projectId} combination.`);
      }
      return this.projectsWithAccess(id);
    } finally {
      // After the change: a read made meanwhile may have cached the row as it was.
      this.byId.clear();
    }
  }
}

/** Numeric ids in numeric order first (1, 2, …, 10), then the rest as text, like a fresh Nova. */
export function compareFlavorIds(a: string, b: string): number {
  const na = /^\d+$/.test(a);
  const nb = /^\d+$/.test(b);
  if (na && nb) return Number(a) - Number(b) || a.localeCompare(b);
  if (na !== nb) return na ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export function requireAdmin(caller: Caller, rule: string): void {
  if (!caller.admin) throw forbidden(`Policy doesn't allow os_compute_api:${rule} to be performed.`);
}
