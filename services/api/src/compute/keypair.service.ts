/** Key pairs (os-keypairs): per user; generated ones return their private key exactly once. */
import { inTransaction, type DataSource } from '@strato/db';
import { conflict, invalid, notFound } from '@strato/errors';
import type { Caller } from './domain/caller';
import { generateRsaKeypair, sshFingerprint, x509Fingerprint } from './domain/keypair';
import { assertWithin } from './domain/quota';
import { requireAdmin } from './flavor.service';
import type { QuotaService } from './quota.service';
import { KeypairEntity, type KeypairRow } from './store';

export interface NewKeypair {
  name: string;
  type: 'ssh' | 'x509';
  publicKey: string | null;
  /** Admin only (2.10+): create for another user. */
  userId: string | null;
}

export class KeypairService {
  constructor(private readonly deps: { db: DataSource; quotas: QuotaService }) {}

  private owner(caller: Caller, userId: string | null, rule: string): string {
    if (userId !== null && userId !== caller.userId) {
      requireAdmin(caller, `os-keypairs:${rule}`);
      return userId;
    }
    return caller.userId;
  }

  async create(caller: Caller, input: NewKeypair): Promise<{ row: KeypairRow; privateKey: string | null }> {
    const userId = this.owner(caller, input.userId, 'create');
    let publicKey = input.publicKey;
    let privateKey: string | null = null;
    let fingerprint: string;
    if (publicKey === null) {
      const generated = await generateRsaKeypair();
      publicKey = generated.publicKey;
      privateKey = generated.privateKey;
      fingerprint = generated.fingerprint;
    } else {
      fingerprint = input.type === 'x509' ? x509Fingerprint(publicKey) : sshFingerprint(publicKey);
    }
    const row = await inTransaction(this.deps.db, async (em) => {
      const limits = await this.deps.quotas.limits(caller.projectId, em);
      assertWithin('key_pairs', limits.key_pairs, await this.deps.quotas.keypairCount(userId, em), 1);
      if (await em.findOne(KeypairEntity, { where: { userId, name: input.name } })) {
        throw conflict(`Key pair '${input.name}' already exists.`);
      }
      const values = {
        userId,
        name: input.name,
        type: input.type,
        publicKey: publicKey,
        fingerprint,
        createdAt: new Date().toISOString(),
      };
      const res = await em.insert(KeypairEntity, values);
      return { ...values, id: Number((res.identifiers[0] as { id?: number } | undefined)?.id ?? 0) };
    });
    return { row, privateKey };
  }

  async list(
    caller: Caller,
    userId: string | null,
    limit: number,
    marker: string | null,
  ): Promise<KeypairRow[]> {
    const owner = this.owner(caller, userId, 'index');
    let rows = await this.deps.db
      .getRepository(KeypairEntity)
      .find({ where: { userId: owner }, order: { name: 'ASC' } });
    if (marker !== null) {
      const at = rows.findIndex((r) => r.name === marker);
      if (at < 0) throw invalid(`Marker ${marker} could not be found.`);
      rows = rows.slice(at + 1);
    }
    return rows.slice(0, limit);
  }

  async get(caller: Caller, name: string, userId: string | null): Promise<KeypairRow> {
    const owner = this.owner(caller, userId, 'show');
    const row = await this.deps.db.getRepository(KeypairEntity).findOne({ where: { userId: owner, name } });
    if (!row) throw notFound(`Keypair ${name} not found for user ${owner}`);
    return row;
  }

  async delete(caller: Caller, name: string, userId: string | null): Promise<void> {
    const owner = this.owner(caller, userId, 'delete');
    const res = await this.deps.db.getRepository(KeypairEntity).delete({ userId: owner, name });
    if (!res.affected) throw notFound(`Keypair ${name} not found for user ${owner}`);
  }
}
