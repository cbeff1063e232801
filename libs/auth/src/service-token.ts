/**
 * A service's own token, for calls to another service on its own behalf (the image service
 * to object storage, a compute agent to the image service): minted locally with the shared
 * signing keys, scoped to the service project with the admin role, and renewed before it
 * expires. Never logged.
 */
import type { TokenService } from './tokens';

export class ServiceToken {
  private current: { token: string; expiresAt: number } | null = null;

  constructor(
    private readonly deps: {
      tokens: TokenService;
      /** The service project the token is scoped to. */
      projectId: string;
      /** Who the token speaks for, as logs show it: e.g. 'image-service', 'compute-agent@node1'. */
      userId: string;
      /** The service's user name (OpenStack's: glance, nova). */
      userName: string;
      /** Renew this long before expiry. */
      marginMs?: number;
      now?: () => number;
    },
  ) {}

  get(): string {
    const now = (this.deps.now ?? Date.now)();
    const margin = this.deps.marginMs ?? 60_000;
    if (!this.current || this.current.expiresAt - margin <= now) {
      const { token, claims } = this.deps.tokens.issue({
        userId: this.deps.userId,
        userName: this.deps.userName,
        userDomainId: 'default',
        userDomainName: 'Default',
        project: { id: this.deps.projectId, name: 'service', domainId: 'default', domainName: 'Default' },
        roles: [{ id: 'admin', name: 'admin' }],
        methods: ['token'],
      });
      this.current = { token, expiresAt: claims.expiresAt.getTime() };
    }
    return this.current.token;
  }
}
