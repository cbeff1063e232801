/** resource_providers.forced_down: os-services forced_down, false for every existing host. */
import type { MigrationInterface, QueryRunner } from '@strato/db';

export class ProviderForcedDown1765000000000 implements MigrationInterface {
  name = 'ProviderForcedDown1765000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE resource_providers ADD COLUMN forced_down boolean NOT NULL DEFAULT false');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE resource_providers DROP COLUMN forced_down');
  }
}
