/**
 * @strato/contracts: every message between api, scheduler and compute-agent, versioned and
 * validated at both ends, with the typed clients that alone know where each message goes.
 * See docs/compute.md for the flows.
 */
export * from './common';
export * from './contract';
export * from './scheduler.messages';
export * from './compute.messages';
export * from './events.messages';
export * from './identity.messages';
export * from './topology';
export * from './clients';
export * from './heartbeat';
export { ALL_CONTRACTS } from './registry';
export { fingerprint, fingerprintKey } from './fingerprint';
export * from './testing';
export * from './glance';
