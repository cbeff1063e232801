/** The identity module as the rest of the api service (and the all-in-one) sees it. */
export { IdentityService, newId, type IdentityServiceDeps } from './identity.service';
export { bootstrapIdentity, BOOTSTRAP_ROLES, type BootstrapOptions, type BootstrapReport } from './bootstrap';
export { catalogFromConfig, type CatalogEntry, type CatalogSpec } from './catalog';
export { identityRouter } from './http/identity.router';
export { identityEntities, identityMigrations } from './store';
export type * from './model';
