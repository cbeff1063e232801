/** What the compute API needs from other services, as ports with adapters at the edge. */
import type { HostSummary, Image } from '@strato/contracts';

/** Who asks the image service: the caller's own token (its rules are the image service's). */
export interface ImageAuth {
  token: string;
  projectId: string;
  /** An admin's token sees every project's images: its answers are not a member's. */
  admin: boolean;
}

/** A new, queued image record (createImage's snapshot, before the agent uploads its data). */
export interface NewImage {
  name: string;
  /** The project the image belongs to (the server's). */
  owner: string;
  visibility: 'private' | 'shared';
  disk_format: string;
  container_format: string;
  min_disk_gb: number;
  min_ram_mb: number;
  /** Extra properties (image_type, instance_uuid, base_image_ref, user_id, metadata…). */
  properties: Record<string, string>;
}

/** The image service, asked on the caller's behalf (so visibility rules are the image service's). */
export interface ImageLookup {
  /** The image, or null when it does not exist or the caller may not see it. */
  get(imageId: string, auth: ImageAuth): Promise<(Image & { status: string }) | null>;
  /** Creates a queued image; returns its id. */
  create(image: NewImage, auth: ImageAuth): Promise<string>;
  /** Deletes an image; resolves when it is already gone. */
  delete(imageId: string, auth: ImageAuth): Promise<void>;
}

/** Projects as identity knows them: Nova checks a project id before it stores anything for it. */
export interface ProjectDirectory {
  exists(projectId: string): Promise<boolean>;
}

/** Compute hosts as the scheduler knows them (os-hypervisors, os-services, host_status). */
export interface HostDirectory {
  list(host?: string | null): Promise<HostSummary[]>;
  setEnabled(host: string, enabled: boolean, reason: string | null): Promise<HostSummary>;
  setForcedDown(host: string, forcedDown: boolean): Promise<HostSummary>;
}
