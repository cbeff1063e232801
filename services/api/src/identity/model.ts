/** Identity's domain vocabulary, as Keystone's users know it. */
import type { RoleRef, TokenClaims } from '@strato/auth';
import type { DomainRow, Extra, ProjectRow, RoleRow, UserRow } from './store/entities';

export type { Extra };
export type Domain = DomainRow;
export type Project = ProjectRow;
export type Role = RoleRow;
/** A user as it may be shown: never its password hash. */
export type User = Omit<UserRow, 'passwordHash'>;

export const DEFAULT_DOMAIN_ID = 'default';

export interface Assignment {
  userId: string;
  projectId: string;
  roleId: string;
}

/** An assignment with the names of what it joins (role_assignments?include_names). */
export interface NamedAssignment extends Assignment {
  userName: string;
  userDomainId: string;
  projectName: string;
  projectDomainId: string;
  roleName: string;
}

export interface ProjectInput {
  name: string;
  domainId?: string | undefined;
  parentId?: string | null | undefined;
  description?: string | null | undefined;
  enabled?: boolean | undefined;
  tags?: string[] | undefined;
  extra?: Extra | undefined;
}
export type ProjectPatch = Partial<Omit<ProjectInput, 'domainId' | 'parentId'>>;

export interface UserInput {
  name: string;
  domainId?: string | undefined;
  password?: string | null | undefined;
  enabled?: boolean | undefined;
  defaultProjectId?: string | null | undefined;
  extra?: Extra | undefined;
}
export type UserPatch = Partial<Omit<UserInput, 'domainId'>>;

export interface RoleInput {
  name: string;
  description?: string | null | undefined;
  extra?: Extra | undefined;
}
export type RolePatch = Partial<RoleInput>;

/** Names an object by id, or by name within a domain given by id or name. */
export interface DomainRef {
  id?: string | undefined;
  name?: string | undefined;
}

export type AuthScope =
  | { kind: 'unscoped' }
  | { kind: 'project'; id?: string | undefined; name?: string | undefined; domain?: DomainRef | undefined }
  | { kind: 'domain' | 'system' | 'trust' };

/** POST /v3/auth/tokens, once its body has been validated. */
export interface AuthRequest {
  methods: string[];
  password?:
    | {
        user: {
          id?: string | undefined;
          name?: string | undefined;
          password: string;
          domain?: DomainRef | undefined;
        };
      }
    | undefined;
  token?: { id: string } | undefined;
  scope: AuthScope;
}

export interface IssuedToken {
  token: string;
  claims: TokenClaims;
}

export interface Ec2Credential {
  access: string;
  secret: string;
  userId: string;
  projectId: string;
}

/** What object storage needs to check an S3 (EC2-style) signature and authorise the caller. */
export interface Ec2Identity {
  secret: string;
  userId: string;
  userName: string;
  projectId: string;
  projectName: string;
  roles: RoleRef[];
}
