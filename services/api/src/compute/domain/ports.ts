/** What the compute API needs from other services, as ports with adapters at the edge. */
import type { HostSummary, Image } from '@strato/contracts';

/** The image service, asked on the caller's behalf (so visibility rules are the image service's). */
export interface ImageLookup {
  /** The image, or null when it does not exist or the caller may not see it. */
  get(
    imageId: string,
    auth: { token: string; projectId: string },
  ): Promise<(Image & { status: string }) | null>;
}

/** Compute hosts as the scheduler knows them (os-hypervisors, os-services, host_status). */
export interface HostDirectory {
  list(host?: string | null): Promise<HostSummary[]>;
  setEnabled(host: string, enabled: boolean, reason: string | null): Promise<HostSummary>;
}
