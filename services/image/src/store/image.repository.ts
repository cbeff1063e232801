/**
 * The image catalogue on TypeORM: one row per image, its properties, tags and members in
 * their own tables. Listing is done in SQL (tenancy, filters, keyset paging on the sort keys
 * with id as the final tie-breaker), so a page costs the same however many images exist.
 */
import { inTransaction, type DataSource, type EntityManager } from '@strato/db';
import type { SelectQueryBuilder } from 'typeorm';
import {
  propertyMap,
  type Image,
  type ImageAttributes,
  type ImageFacts,
  type ImageMember,
  type ImageStatus,
} from '../domain/image';
import type { Caller } from '../domain/image-policy';
import type { ListCriteria, SortKey } from '../domain/image-query';
import type { ImageRepository } from '../domain/ports';
import {
  ImageEntity,
  ImageMemberEntity,
  ImagePropertyEntity,
  ImageTagEntity,
  type ImageMemberRow,
  type ImageRow,
} from './image.entity';

const NULLABLE_SORT_KEYS: ReadonlySet<SortKey> = new Set([
  'name',
  'disk_format',
  'container_format',
  'size',
  'virtual_size',
  'owner',
]);

function toRow(image: Image): ImageRow {
  return {
    id: image.id,
    name: image.name,
    status: image.status,
    visibility: image.visibility,
    protected: image.protected,
    os_hidden: image.os_hidden,
    owner: image.owner,
    disk_format: image.disk_format,
    container_format: image.container_format,
    min_disk: image.min_disk,
    min_ram: image.min_ram,
    size: image.size,
    virtual_size: image.virtual_size,
    checksum: image.checksum,
    os_hash_algo: image.os_hash_algo,
    os_hash_value: image.os_hash_value,
    created_at: image.created_at.getTime(),
    updated_at: image.updated_at.getTime(),
  };
}

function attributeColumns(attrs: ImageAttributes): Partial<ImageRow> {
  return {
    name: attrs.name,
    visibility: attrs.visibility,
    protected: attrs.protected,
    os_hidden: attrs.os_hidden,
    owner: attrs.owner,
    disk_format: attrs.disk_format,
    container_format: attrs.container_format,
    min_disk: attrs.min_disk,
    min_ram: attrs.min_ram,
  };
}

function fromRow(row: ImageRow, tags: string[], properties: Record<string, string>): Image {
  return {
    id: row.id,
    name: row.name,
    status: row.status as Image['status'],
    visibility: row.visibility as Image['visibility'],
    protected: Boolean(row.protected),
    os_hidden: Boolean(row.os_hidden),
    owner: row.owner,
    disk_format: row.disk_format as Image['disk_format'],
    container_format: row.container_format as Image['container_format'],
    min_disk: row.min_disk,
    min_ram: row.min_ram,
    size: row.size,
    virtual_size: row.virtual_size,
    checksum: row.checksum,
    os_hash_algo: row.os_hash_algo,
    os_hash_value: row.os_hash_value,
    created_at: new Date(row.created_at),
    updated_at: new Date(row.updated_at),
    tags,
    properties,
  };
}

function memberFromRow(row: ImageMemberRow): ImageMember {
  return {
    image_id: row.image_id,
    member_id: row.member_id,
    status: row.status as ImageMember['status'],
    created_at: new Date(row.created_at),
    updated_at: new Date(row.updated_at),
  };
}

/** A value of the image used for keyset comparison, as stored. */
function sortValue(image: Image, key: SortKey): string | number | null {
  const v = image[key];
  return v instanceof Date ? v.getTime() : v;
}

export class TypeormImageRepository implements ImageRepository {
  /** Escaped, schema-qualified names of the child tables, for the subqueries in list(). */
  private readonly tables: { members: string; tags: string; properties: string };

  constructor(private readonly db: DataSource) {
    const name = (entity: typeof ImageMemberEntity | typeof ImageTagEntity | typeof ImagePropertyEntity) => {
      const meta = db.getMetadata(entity);
      const escape = (s: string) => db.driver.escape(s);
      return meta.schema ? `${escape(meta.schema)}.${escape(meta.tableName)}` : escape(meta.tableName);
    };
    this.tables = {
      members: name(ImageMemberEntity),
      tags: name(ImageTagEntity),
      properties: name(ImagePropertyEntity),
    };
  }

  async insert(image: Image): Promise<boolean> {
    return inTransaction(this.db, async (em) => {
      if (await em.getRepository(ImageEntity).existsBy({ id: image.id })) return false;
      await em.getRepository(ImageEntity).insert(toRow(image));
      await this.writeChildren(em, image.id, image);
      return true;
    });
  }

  async findById(id: string): Promise<Image | null> {
    const row = await this.db.getRepository(ImageEntity).findOneBy({ id });
    if (!row) return null;
    const [withChildren] = await this.withChildren(this.db.manager, [row]);
    return withChildren ?? null;
  }

  async saveAttributes(id: string, attrs: ImageAttributes, updatedAt: Date): Promise<boolean> {
    return inTransaction(this.db, async (em) => {
      const result = await em
        .getRepository(ImageEntity)
        .update({ id }, { ...attributeColumns(attrs), updated_at: updatedAt.getTime() });
      if (!result.affected) return false;
      await em.getRepository(ImageTagEntity).delete({ image_id: id });
      await em.getRepository(ImagePropertyEntity).delete({ image_id: id });
      await this.writeChildren(em, id, attrs);
      return true;
    });
  }

  async transition(
    id: string,
    from: readonly ImageStatus[],
    to: ImageStatus,
    facts: Partial<Omit<ImageFacts, 'id' | 'status' | 'created_at'>>,
  ): Promise<boolean> {
    const set: Partial<ImageRow> = { status: to };
    for (const [k, v] of Object.entries(facts)) {
      (set as Record<string, unknown>)[k] = v instanceof Date ? v.getTime() : v;
    }
    const result = await this.db
      .createQueryBuilder()
      .update(ImageEntity)
      .set(set)
      .where('id = :id', { id })
      .andWhere('status IN (:...from)', { from: [...from] })
      .execute();
    return (result.affected ?? 0) > 0;
  }

  async delete(id: string): Promise<boolean> {
    return inTransaction(this.db, async (em) => {
      await em.getRepository(ImageMemberEntity).delete({ image_id: id });
      await em.getRepository(ImageTagEntity).delete({ image_id: id });
      await em.getRepository(ImagePropertyEntity).delete({ image_id: id });
      const result = await em.getRepository(ImageEntity).delete({ id });
      return (result.affected ?? 0) > 0;
    });
  }

  async list(criteria: ListCriteria, viewer: Caller, after: Image | null): Promise<Image[]> {
    if (criteria.limit === 0) return [];
    const qb = this.db.getRepository(ImageEntity).createQueryBuilder('i');
    this.whereVisible(qb, criteria, viewer);
    this.whereFilters(qb, criteria);
    if (after) this.whereAfter(qb, criteria, after);
    for (const { key, dir } of criteria.sort) {
      const order = dir === 'asc' ? 'ASC' : 'DESC';
      if (NULLABLE_SORT_KEYS.has(key)) qb.addOrderBy(`CASE WHEN i.${key} IS NULL THEN 0 ELSE 1 END`, order);
      qb.addOrderBy(`i.${key}`, order);
    }
    qb.limit(criteria.limit);
    const rows = await qb.getMany();
    return this.withChildren(this.db.manager, rows);
  }

  async findMember(imageId: string, memberId: string): Promise<ImageMember | null> {
    const row = await this.db
      .getRepository(ImageMemberEntity)
      .findOneBy({ image_id: imageId, member_id: memberId });
    return row ? memberFromRow(row) : null;
  }

  async listMembers(imageId: string): Promise<ImageMember[]> {
    const rows = await this.db
      .getRepository(ImageMemberEntity)
      .find({ where: { image_id: imageId }, order: { created_at: 'ASC', member_id: 'ASC' } });
    return rows.map(memberFromRow);
  }

  async insertMember(member: ImageMember): Promise<boolean> {
    return inTransaction(this.db, async (em) => {
      const repo = em.getRepository(ImageMemberEntity);
      if (await repo.existsBy({ image_id: member.image_id, member_id: member.member_id })) return false;
      await repo.insert({
        image_id: member.image_id,
        member_id: member.member_id,
        status: member.status,
        created_at: member.created_at.getTime(),
        updated_at: member.updated_at.getTime(),
      });
      return true;
    });
  }

  async updateMember(member: ImageMember): Promise<boolean> {
    const result = await this.db
      .getRepository(ImageMemberEntity)
      .update(
        { image_id: member.image_id, member_id: member.member_id },
        { status: member.status, updated_at: member.updated_at.getTime() },
      );
    return (result.affected ?? 0) > 0;
  }

  async deleteMember(imageId: string, memberId: string): Promise<boolean> {
    const result = await this.db
      .getRepository(ImageMemberEntity)
      .delete({ image_id: imageId, member_id: memberId });
    return (result.affected ?? 0) > 0;
  }

  private async writeChildren(
    em: EntityManager,
    id: string,
    attrs: Pick<ImageAttributes, 'tags' | 'properties'>,
  ) {
    if (attrs.tags.length > 0) {
      await em.getRepository(ImageTagEntity).insert(attrs.tags.map((value) => ({ image_id: id, value })));
    }
    const props = Object.entries(attrs.properties).map(([name, value]) => ({ image_id: id, name, value }));
    // Chunked to stay under SQLite's bound-parameter limit.
    for (let i = 0; i < props.length; i += 100) {
      await em.getRepository(ImagePropertyEntity).insert(props.slice(i, i + 100));
    }
  }

  private async withChildren(em: EntityManager, rows: ImageRow[]): Promise<Image[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    const [tags, props] = await Promise.all([
      em
        .getRepository(ImageTagEntity)
        .createQueryBuilder('t')
        .where('t.image_id IN (:...ids)', { ids })
        .getMany(),
      em
        .getRepository(ImagePropertyEntity)
        .createQueryBuilder('p')
        .where('p.image_id IN (:...ids)', { ids })
        .getMany(),
    ]);
    const tagsById = new Map<string, string[]>();
    for (const t of tags) tagsById.set(t.image_id, [...(tagsById.get(t.image_id) ?? []), t.value]);
    const propsById = new Map<string, Record<string, string>>();
    for (const p of props) {
      const map = propsById.get(p.image_id) ?? propertyMap({});
      map[p.name] = p.value;
      propsById.set(p.image_id, map);
    }
    return rows.map((r) =>
      fromRow(r, (tagsById.get(r.id) ?? []).sort(), propsById.get(r.id) ?? propertyMap({})),
    );
  }

  /** Tenancy: which images the viewer may list at all, with the visibility filter. */
  private whereVisible(qb: SelectQueryBuilder<ImageRow>, criteria: ListCriteria, viewer: Caller): void {
    const { visibility, memberStatus } = criteria.filters;
    const params = { viewer: viewer.projectId, memberStatus };
    const memberCond =
      memberStatus === 'all'
        ? `EXISTS (SELECT 1 FROM ${this.tables.members} m WHERE m.image_id = i.id AND m.member_id = :viewer)`
        : `EXISTS (SELECT 1 FROM ${this.tables.members} m WHERE m.image_id = i.id AND m.member_id = :viewer AND m.status = :memberStatus)`;
    const sharedWithViewer = `(i.visibility = 'shared' AND ${memberCond})`;
    switch (visibility) {
      case null:
        if (viewer.isAdmin) qb.andWhere("(i.visibility <> 'community' OR i.owner = :viewer)", params);
        else qb.andWhere(`(i.owner = :viewer OR i.visibility = 'public' OR ${sharedWithViewer})`, params);
        return;
      case 'all':
        if (!viewer.isAdmin) {
          qb.andWhere(
            `(i.owner = :viewer OR i.visibility IN ('public', 'community') OR ${sharedWithViewer})`,
            params,
          );
        }
        return;
      case 'public':
      case 'community':
        qb.andWhere('i.visibility = :visibility', { visibility });
        return;
      case 'private':
        qb.andWhere("i.visibility = 'private'");
        if (!viewer.isAdmin) qb.andWhere('i.owner = :viewer', params);
        return;
      case 'shared':
        qb.andWhere("i.visibility = 'shared'");
        if (!viewer.isAdmin) qb.andWhere(`(i.owner = :viewer OR ${memberCond})`, params);
        return;
    }
  }

  private whereFilters(qb: SelectQueryBuilder<ImageRow>, criteria: ListCriteria): void {
    const f = criteria.filters;
    for (const [field, values] of Object.entries(f.in)) {
      qb.andWhere(`i.${field} IN (:...in_${field})`, { [`in_${field}`]: values });
    }
    if (f.owner !== null) qb.andWhere('i.owner = :owner', { owner: f.owner });
    qb.andWhere('i.os_hidden = :osHidden', { osHidden: f.osHidden });
    if (f.protected !== null) qb.andWhere('i.protected = :protected', { protected: f.protected });
    if (f.sizeMin !== null) qb.andWhere('i.size >= :sizeMin', { sizeMin: f.sizeMin });
    if (f.sizeMax !== null) qb.andWhere('i.size <= :sizeMax', { sizeMax: f.sizeMax });
    const ops = { gt: '>', gte: '>=', lt: '<', lte: '<=', eq: '=', neq: '<>' } as const;
    f.times.forEach((t, n) => {
      qb.andWhere(`i.${t.field} ${ops[t.op]} :time${n}`, { [`time${n}`]: t.at.getTime() });
    });
    f.tags.forEach((tag, n) => {
      qb.andWhere(
        `EXISTS (SELECT 1 FROM ${this.tables.tags} t${n} WHERE t${n}.image_id = i.id AND t${n}.value = :tag${n})`,
        {
          [`tag${n}`]: tag,
        },
      );
    });
    Object.entries(f.properties).forEach(([name, value], n) => {
      qb.andWhere(
        `EXISTS (SELECT 1 FROM ${this.tables.properties} p${n} WHERE p${n}.image_id = i.id AND p${n}.name = :pn${n} AND p${n}.value = :pv${n})`,
        { [`pn${n}`]: name, [`pv${n}`]: value },
      );
    });
  }

  /**
   * Keyset paging: rows strictly after the marker in sort order. Each nullable key sorts as
   * (is-not-null flag, value), so NULLs order the same on every database.
   */
  private whereAfter(qb: SelectQueryBuilder<ImageRow>, criteria: ListCriteria, after: Image): void {
    interface Part {
      expr: string;
      value: string | number | null;
      dir: 'asc' | 'desc';
    }
    const parts: Part[] = [];
    for (const { key, dir } of criteria.sort) {
      const value = sortValue(after, key);
      if (NULLABLE_SORT_KEYS.has(key)) {
        parts.push({
          expr: `(CASE WHEN i.${key} IS NULL THEN 0 ELSE 1 END)`,
          value: value === null ? 0 : 1,
          dir,
        });
      }
      parts.push({ expr: `i.${key}`, value, dir });
    }
    const params: Record<string, unknown> = {};
    const equal = (p: Part, n: number) => {
      if (p.value === null) return `${p.expr} IS NULL`;
      params[`k${n}`] = p.value;
      return `${p.expr} = :k${n}`;
    };
    const disjuncts: string[] = [];
    parts.forEach((p, n) => {
      if (p.value === null) return;
      params[`k${n}`] = p.value;
      const strict = `${p.expr} ${p.dir === 'asc' ? '>' : '<'} :k${n}`;
      disjuncts.push([...parts.slice(0, n).map((q, m) => equal(q, m)), strict].join(' AND '));
    });
    qb.andWhere(disjuncts.length > 0 ? `(${disjuncts.map((d) => `(${d})`).join(' OR ')})` : '1 = 0', params);
  }
}
