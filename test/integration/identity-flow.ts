/**
 * The Foundation issue's acceptance flow, driven through Debian's openstack CLI: the admin
 * issues a token and lists the catalog, creates a project and a user with a role on it, and
 * that user then gets a token scoped to the new project.
 */
import { randomBytes } from 'node:crypto';
import { adminEnv, openstack } from '../support/stack';

interface Row {
  [key: string]: unknown;
}

export async function identityFlow(authUrl: string, adminPassword: string): Promise<void> {
  const admin = adminEnv(authUrl, adminPassword);
  const token = (await openstack(['token', 'issue', '-f', 'json'], admin)) as Row;
  expect(token.id).toEqual(expect.any(String));
  expect(token.project_id).toMatch(/^[0-9a-f]{32}$/);

  const catalog = (await openstack(['catalog', 'list', '-f', 'json'], admin)) as Row[];
  expect(catalog.map((s) => s.Type).sort()).toEqual(['compute', 'identity', 'image', 'object-store']);

  const suffix = randomBytes(3).toString('hex');
  const projectName = `p1-${suffix}`;
  const userName = `u1-${suffix}`;
  const project = (await openstack(['project', 'create', projectName, '-f', 'json'], admin)) as Row;
  expect(project.name).toBe(projectName);
  const user = (await openstack(
    ['user', 'create', '--project', projectName, '--password', 'x', userName, '-f', 'json'],
    admin,
  )) as Row;
  expect(user.name).toBe(userName);
  await openstack(['role', 'add', '--project', projectName, '--user', userName, 'member'], admin);

  const userToken = (await openstack(['token', 'issue', '-f', 'json'], {
    ...admin,
    OS_USERNAME: userName,
    OS_PASSWORD: 'x',
    OS_PROJECT_NAME: projectName,
  })) as Row;
  expect(userToken.project_id).toBe(project.id);
  expect(userToken.user_id).toBe(user.id);

  await expect(
    openstack(['token', 'issue', '-f', 'json'], { ...admin, OS_USERNAME: userName, OS_PASSWORD: 'wrong' }),
  ).rejects.toThrow(/401|authenticat/i);
}
