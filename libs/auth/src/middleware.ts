/**
 * Express middleware that turns X-Auth-Token into the caller's identity. Routers then ask
 * for what they need: `requireAuth(req)` for the claims, `requireProject(req, id)` for a
 * project-scoped token on the right project, `isAdmin(claims)` for admin APIs.
 */
import type { NextFunction, Request, Response } from 'express';
import { forbidden, unauthorized } from '@strato/errors';
import type { TokenClaims, TokenService } from './tokens';

declare module 'express-serve-static-core' {
  interface Request {
    auth?: TokenClaims;
  }
}

/** Verifies X-Auth-Token when present; `required` rejects requests without one. */
export function authenticate(tokens: TokenService, options: { required: boolean }) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    const token = req.header('x-auth-token');
    if (!token) {
      next(options.required ? unauthorized() : undefined);
      return;
    }
    tokens.verify(token).then(
      (claims) => {
        req.auth = claims;
        next();
      },
      (err: unknown) => next(err),
    );
  };
}

export function requireAuth(req: Request): TokenClaims {
  if (!req.auth) throw unauthorized();
  return req.auth;
}

export function hasRole(claims: TokenClaims, role: string): boolean {
  return claims.roles.some((r) => r.name === role);
}

export function isAdmin(claims: TokenClaims): boolean {
  return hasRole(claims, 'admin');
}

export function requireAdmin(req: Request): TokenClaims {
  const claims = requireAuth(req);
  if (!isAdmin(claims)) throw forbidden();
  return claims;
}

/** A project-scoped token; with projectId, it must be that project's (admin may reach any). */
export function requireProject(
  req: Request,
  projectId?: string,
): TokenClaims & { project: NonNullable<TokenClaims['project']> } {
  const claims = requireAuth(req);
  if (!claims.project) throw forbidden('A project-scoped token is required.');
  if (projectId !== undefined && claims.project.id !== projectId && !isAdmin(claims)) throw forbidden();
  return claims as TokenClaims & { project: NonNullable<TokenClaims['project']> };
}
