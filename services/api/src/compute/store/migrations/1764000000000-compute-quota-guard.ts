/**
 * compute_quota_guard(ok): raises QUOTA_GUARD_MESSAGE when ok is false, so a quota condition
 * checked by a statement inside a transaction aborts it (PostgreSQL only: the admission of
 * boots in one round trip writes first and lets this decide whether the lot commits; on
 * SQLite admission reads first and needs no guard).
 */
import type { MigrationInterface, QueryRunner } from '@strato/db';

export const QUOTA_GUARD_MESSAGE = 'compute quota guard: over a limit';

export class ComputeQuotaGuard1764000000000 implements MigrationInterface {
  name = 'ComputeQuotaGuard1764000000000';

  async up(q: QueryRunner): Promise<void> {
    if (q.connection.options.type !== 'postgres') return;
    await q.query(
      `CREATE OR REPLACE FUNCTION compute_quota_guard(ok boolean) RETURNS boolean
         LANGUAGE plpgsql AS $guard$
         BEGIN
           IF ok IS NOT TRUE THEN
             RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = '${QUOTA_GUARD_MESSAGE}';
           END IF;
           RETURN TRUE;
         END
       $guard$`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    if (q.connection.options.type !== 'postgres') return;
    await q.query('DROP FUNCTION IF EXISTS compute_quota_guard(boolean)');
  }
}
