import type { HostFilter } from '../domain/plugins';

/** Skips hosts where an earlier attempt of this build failed (nova's RetryFilter). */
export const retryFilter: HostFilter = {
  name: 'RetryFilter',
  passes: (host, request) => !request.excludedHosts.has(host.host),
};
