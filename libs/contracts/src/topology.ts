/**
 * Where each message goes: routing keys and the queues that consume them, on the bus's
 * default topic exchange. The typed clients (clients.ts) and the consumers' queue
 * declarations both come from here, so a topic is spelt in exactly one place.
 *
 * Casts and events are routed by their type name, except casts to a compute agent, which go
 * to its own queue `compute.<host>` (RPC to it: `compute_rpc.<host>`).
 */
import type { MessageContract } from './contract';
import * as events from './events.messages';
import * as scheduler from './scheduler.messages';

export interface QueueSpec {
  queue: string;
  bindings: readonly string[];
}

const keyOf = (...contracts: MessageContract[]) => contracts.map((c) => c.type);

/** The scheduler's queues (shared by all its replicas: competing consumers). */
export const schedulerQueues = {
  /** Schedule and release requests from the api (and reschedules from the scheduler itself). */
  requests: {
    queue: 'scheduler.requests',
    bindings: keyOf(scheduler.scheduleInstance, scheduler.releaseClaim),
  },
  /** Build outcomes and state changes: to free claims and follow builds to the end. */
  events: {
    queue: 'scheduler.events',
    bindings: keyOf(events.instanceBuildFailed, events.instanceStateChanged),
  },
  /** Inventory and capability reports from agents. */
  reports: { queue: 'scheduler.reports', bindings: keyOf(events.hostReport) },
  /** RPC: scheduler.list_hosts and scheduler.set_host_enabled. */
  rpc: { queue: 'scheduler.rpc', bindings: ['scheduler.rpc'] },
} as const satisfies Record<string, QueueSpec>;

/** A compute agent's own queues. */
export function computeQueues(host: string): { casts: QueueSpec; rpc: QueueSpec } {
  return {
    casts: { queue: `compute.${host}`, bindings: [`compute.${host}`] },
    rpc: { queue: `compute_rpc.${host}`, bindings: [`compute_rpc.${host}`] },
  };
}

/** What the api binds to follow instances (its queue name is its own choice; this is the suggestion). */
export const apiQueues = {
  instanceEvents: {
    queue: 'api.instance_events',
    bindings: keyOf(events.instanceStateChanged, events.hostInstances),
  },
} as const satisfies Record<string, QueueSpec>;

export const routingKeys = {
  scheduleInstance: scheduler.scheduleInstance.type,
  releaseClaim: scheduler.releaseClaim.type,
  schedulerRpc: schedulerQueues.rpc.bindings[0],
  instanceStateChanged: events.instanceStateChanged.type,
  instanceBuildFailed: events.instanceBuildFailed.type,
  hostReport: events.hostReport.type,
  hostInstances: events.hostInstances.type,
  computeCasts: (host: string) => computeQueues(host).casts.bindings[0]!,
  computeRpc: (host: string) => computeQueues(host).rpc.bindings[0]!,
} as const;
