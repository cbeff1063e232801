/**
 * Acceptance: the real openstack CLI (python3-openstackclient) against the api service
 * started in-process, once all-in-one style (SQLite, in-memory bus and cache) and once on
 * PostgreSQL (a throwaway database), Redis and RabbitMQ.
 */
import {
  AMQP_URL,
  POSTGRES_URL,
  REDIS_URL,
  adminOsEnv,
  runOpenstack,
  scratchDatabase,
  unusedPort,
} from '../support/external';
import { ADMIN_PASSWORD, startIdentity, type Harness } from '../support/identity-harness';

interface Row {
  [key: string]: unknown;
}

function describeCli(
  label: string,
  infra: () => Promise<{ env: Record<string, string>; cleanup(): Promise<void> }>,
) {
  describe(`openstack CLI against identity (${label})`, () => {
    let h: Harness;
    let cleanup: () => Promise<void> = async () => {};
    let env: Record<string, string>;

    beforeAll(async () => {
      const port = await unusedPort();
      const publicUrl = `http://127.0.0.1:${port}/v3/`;
      const deps = await infra();
      cleanup = () => deps.cleanup();
      h = await startIdentity({ ...deps.env, IDENTITY_PORT: String(port), IDENTITY_PUBLIC_URL: publicUrl });
      env = adminOsEnv(`http://127.0.0.1:${port}/v3`, ADMIN_PASSWORD);
    }, 60_000);

    afterAll(async () => {
      await h?.stop();
      await cleanup();
    }, 60_000);

    it('issues a token, lists the catalog, creates a project and a member user who then logs in', async () => {
      const token = (await runOpenstack(['token', 'issue', '-f', 'json'], env)) as Row;
      expect(token).toMatchObject({ project_id: h.boot.adminProjectId, user_id: h.boot.adminUserId });
      expect(token.id).toEqual(expect.any(String));

      const catalog = (await runOpenstack(['catalog', 'list', '-f', 'json'], env)) as Row[];
      expect(catalog.map((s) => s.Type)).toEqual(['identity', 'compute', 'image', 'object-store']);
      expect(JSON.stringify(catalog)).toContain(`AUTH_${h.boot.adminProjectId}`);

      const project = (await runOpenstack(['project', 'create', 'p1', '-f', 'json'], env)) as Row;
      expect(project).toMatchObject({ name: 'p1', domain_id: 'default', enabled: true });
      const again = await fetch(`${h.url}/v3/projects`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-auth-token': String(token.id) },
        body: JSON.stringify({ project: { name: 'p1' } }),
      });
      expect(again.status).toBe(409); // the unique index answers, on either database
      const user = (await runOpenstack(
        ['user', 'create', '--project', 'p1', '--password', 'x', 'u1', '-f', 'json'],
        env,
      )) as Row;
      expect(user).toMatchObject({ name: 'u1', default_project_id: project.id });
      expect(
        await runOpenstack(['role', 'add', '--project', 'p1', '--user', 'u1', 'member'], env),
      ).toBeNull();

      const u1 = (await runOpenstack(['token', 'issue', '-f', 'json'], {
        ...env,
        OS_USERNAME: 'u1',
        OS_PASSWORD: 'x',
        OS_PROJECT_NAME: 'p1',
      })) as Row;
      expect(u1).toMatchObject({ project_id: project.id, user_id: user.id });
    }, 120_000);
  });
}

describeCli('all-in-one: SQLite, in-memory bus and cache', async () => ({
  env: {},
  cleanup: async () => {},
}));

describeCli(`PostgreSQL (${new URL(POSTGRES_URL).host}), Redis, RabbitMQ`, async () => {
  const db = await scratchDatabase();
  return {
    env: { DATABASE_URL: db.url, REDIS_URL, AMQP_URL },
    cleanup: () => db.drop(),
  };
});
