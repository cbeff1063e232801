import type { HostFilter } from '../domain/plugins';

/** The requested availability zone, when one was asked for. */
export const availabilityZoneFilter: HostFilter = {
  name: 'AvailabilityZoneFilter',
  passes: (host, request) =>
    request.availabilityZone === null || host.availabilityZone === request.availabilityZone,
};
