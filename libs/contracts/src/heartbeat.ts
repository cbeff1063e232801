/**
 * Liveness of compute hosts: each agent writes `strato:heartbeat:compute:<host>` into the cache
 * every report interval, with a TTL of its heartbeat timeout. A host is alive while the key
 * exists; the value carries the latest load so the scheduler reads both in one call.
 * (Liveness comes from the cache's own expiry, so no two machines' clocks are compared.)
 */
import { z } from 'zod';
import { hostName, isoTime } from './common';

export const HEARTBEAT_KEY_PREFIX = 'strato:heartbeat:compute:';

export const heartbeatKey = (host: string): string => `${HEARTBEAT_KEY_PREFIX}${host}`;

export const heartbeatValue = z.object({
  host: hostName,
  at: isoTime,
  cpu_load: z.number().min(0),
  running_vms: z.int().min(0),
});
export type Heartbeat = z.infer<typeof heartbeatValue>;

/** The heartbeat in a cache value, or null when absent or unreadable. */
export function parseHeartbeat(raw: string | null): Heartbeat | null {
  if (raw === null) return null;
  try {
    const parsed = heartbeatValue.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
