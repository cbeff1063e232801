/** Every message contract, for the fingerprint test and for documentation. */
import type { MessageContract } from './contract';
import * as compute from './compute.messages';
import * as events from './events.messages';
import * as identity from './identity.messages';
import * as scheduler from './scheduler.messages';

export const ALL_CONTRACTS: readonly MessageContract[] = [
  scheduler.scheduleInstance,
  scheduler.scheduleInstanceV1,
  scheduler.releaseClaim,
  scheduler.listHosts,
  scheduler.listHostsV1,
  scheduler.setHostEnabled,
  scheduler.setHostEnabledV1,
  scheduler.setHostForcedDown,
  compute.buildInstance,
  compute.buildInstanceV1,
  compute.deleteInstance,
  compute.startInstance,
  compute.stopInstance,
  compute.rebootInstance,
  compute.snapshotInstance,
  compute.getConsoleOutput,
  events.instanceStateChanged,
  events.instanceStateChangedV2,
  events.instanceStateChangedV1,
  events.instanceBuildFailed,
  events.hostReport,
  events.hostInstances,
  identity.ec2Lookup,
];
