/**
 * Request bodies of Identity v3, validated like Keystone's JSON schemas: the same required
 * fields and types (a violation is 400), and, where Keystone allows additional properties
 * (projects, users, roles), unknown fields kept as the object's extra attributes.
 */
import { z } from 'zod';
import { invalid } from '@strato/errors';
import type { AuthRequest, AuthScope, Extra } from '../model';

/** Parses a body or throws Invalid (400) naming the first offending field. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue?.path.map(String).join('/') ?? '';
  throw invalid(
    field
      ? `Invalid input for field '${field}': ${issue?.message ?? 'invalid'}`
      : 'Expecting a JSON object in the request body.',
  );
}

const ref = z.object({ id: z.string().optional(), name: z.string().optional() });
const optionalId = z.string().min(1).max(64);
const nullableText = z.string().max(65535).nullable().optional();
const tags = z.array(z.string().min(1).max(255)).max(80).optional();
const options = z.record(z.string(), z.unknown()).optional();

export const authBody = z.object({
  auth: z.object({
    identity: z.object({
      methods: z.array(z.string()).min(1),
      password: z
        .object({
          user: z.object({
            id: z.string().optional(),
            name: z.string().optional(),
            password: z.string(),
            domain: ref.optional(),
          }),
        })
        .optional(),
      token: z.object({ id: z.string().min(1) }).optional(),
    }),
    scope: z
      .union([
        z.literal('unscoped'),
        z.object({
          project: z
            .object({ id: z.string().optional(), name: z.string().optional(), domain: ref.optional() })
            .optional(),
          domain: ref.optional(),
          system: z.unknown().optional(),
          'OS-TRUST:trust': z.unknown().optional(),
        }),
      ])
      .optional(),
  }),
});

export function toAuthRequest(body: z.infer<typeof authBody>): AuthRequest {
  const { identity, scope } = body.auth;
  let authScope: AuthScope = { kind: 'unscoped' };
  if (scope && scope !== 'unscoped') {
    if (scope.project) authScope = { kind: 'project', ...scope.project };
    else if (scope.domain) authScope = { kind: 'domain' };
    else if (scope.system !== undefined) authScope = { kind: 'system' };
    else if (scope['OS-TRUST:trust'] !== undefined) authScope = { kind: 'trust' };
  }
  return { methods: identity.methods, password: identity.password, token: identity.token, scope: authScope };
}

/** Everything in a body that is not a known attribute (or a read-only one) becomes extra. */
function extras(body: Record<string, unknown>, known: readonly string[]): Extra {
  const skip = new Set([...known, 'id', 'links']);
  return Object.fromEntries(Object.entries(body).filter(([k]) => !skip.has(k)));
}

const PROJECT_FIELDS = [
  'name',
  'description',
  'domain_id',
  'enabled',
  'parent_id',
  'is_domain',
  'tags',
  'options',
];

const projectFields = {
  description: nullableText,
  domain_id: optionalId.nullable().optional(),
  enabled: z.boolean().optional(),
  parent_id: optionalId.nullable().optional(),
  is_domain: z.boolean().optional(),
  tags,
  options,
};

export const projectCreateBody = z.object({
  project: z.looseObject({ name: z.string().min(1).max(64), ...projectFields }),
});

export const projectUpdateBody = z.object({
  project: z
    .looseObject({ name: z.string().min(1).max(64).optional(), ...projectFields })
    .refine((p) => Object.keys(p).length > 0, 'at least one attribute is required'),
});

export function projectExtra(body: Record<string, unknown>): Extra {
  return extras(body, PROJECT_FIELDS);
}

const USER_FIELDS = [
  'name',
  'domain_id',
  'default_project_id',
  'enabled',
  'password',
  'options',
  'federated',
];

const userFields = {
  domain_id: optionalId.optional(),
  default_project_id: optionalId.nullable().optional(),
  enabled: z.boolean().optional(),
  password: z.string().max(4096).nullable().optional(),
  description: nullableText,
  options,
};

export const userCreateBody = z.object({
  user: z.looseObject({ name: z.string().min(1).max(255), ...userFields }),
});

export const userUpdateBody = z.object({
  user: z
    .looseObject({ name: z.string().min(1).max(255).optional(), ...userFields })
    .refine((u) => Object.keys(u).length > 0, 'at least one attribute is required'),
});

export function userExtra(body: Record<string, unknown>): Extra {
  return extras(body, USER_FIELDS);
}

export const passwordChangeBody = z.object({
  user: z.object({ password: z.string().max(4096), original_password: z.string().max(4096) }),
});

const ROLE_FIELDS = ['name', 'description', 'domain_id', 'options'];

const roleFields = {
  description: z.string().max(255).nullable().optional(),
  domain_id: z.null().optional(),
  options,
};

export const roleCreateBody = z.object({
  role: z.looseObject({ name: z.string().min(1).max(255), ...roleFields }),
});

export const roleUpdateBody = z.object({
  role: z
    .looseObject({ name: z.string().min(1).max(255).optional(), ...roleFields })
    .refine((r) => Object.keys(r).length > 0, 'at least one attribute is required'),
});

export function roleExtra(body: Record<string, unknown>): Extra {
  return extras(body, ROLE_FIELDS);
}

export const ec2CreateBody = z.object({ tenant_id: z.string().min(1).max(64) });
