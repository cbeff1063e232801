/**
 * The compute agent's own token for the image service: minted locally with the shared signing
 * keys (the agent is a trusted service, like the image service towards object storage), scoped
 * to the service project with the admin role so it may read any image's data, and renewed
 * before it expires. Never logged.
 */
import type { TokenService } from '@strato/auth';

export class AgentServiceToken {
  private current: { token: string; expiresAt: number } | null = null;

  constructor(
    private readonly deps: {
      tokens: TokenService;
      projectId: string;
      /** The agent's host, to tell agents apart in the image service's logs. */
      host: string;
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
        userId: `compute-agent@${this.deps.host}`,
        userName: 'nova',
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
