/** Bus handlers of the scheduler: validate (by contract), delegate to the domain, reply. */
import {
  MessageRouter,
  hostReport,
  instanceBuildFailed,
  instanceStateChanged,
  instanceStateChangedV1,
  instanceStateChangedV2,
  listHosts,
  listHostsV1,
  releaseClaim,
  scheduleInstance,
  scheduleInstanceV1,
  setHostEnabled,
  setHostEnabledV1,
  setHostForcedDown,
} from '@strato/contracts';
import type { HostsService } from '../domain/hosts.service';
import type { PlacementService, ScheduleOutcome, ScheduleRequest } from '../domain/placement.service';

export interface SchedulerRouters {
  requests: MessageRouter;
  events: MessageRouter;
  reports: MessageRouter;
  rpc: MessageRouter;
}

export function schedulerRouters(deps: {
  placement: PlacementService;
  hosts: HostsService;
  onScheduled?: (outcome: ScheduleOutcome) => void;
}): SchedulerRouters {
  const { placement, hosts } = deps;
  const schedule = async (payload: ScheduleRequest) => {
    const outcome = await placement.schedule(payload);
    deps.onScheduled?.(outcome);
  };
  return {
    requests: new MessageRouter()
      .on(scheduleInstance, async ({ payload }) => schedule(payload))
      // Sent before key_name existed (e.g. in flight during an upgrade).
      .on(scheduleInstanceV1, async ({ payload }) => schedule({ ...payload, key_name: null }))
      .on(releaseClaim, async ({ payload }) => placement.release(payload.instance_id)),
    events: new MessageRouter()
      .on(instanceBuildFailed, async ({ payload }) => placement.buildFailed(payload))
      .on(instanceStateChanged, async ({ payload }) => placement.stateChanged(payload))
      .on(instanceStateChangedV2, async ({ payload }) => placement.stateChanged(payload))
      .on(instanceStateChangedV1, async ({ payload }) => placement.stateChanged(payload)),
    reports: new MessageRouter().on(hostReport, async ({ payload }) => hosts.report(payload)),
    rpc: new MessageRouter()
      .onCall(listHosts, async ({ payload }) => ({ hosts: await hosts.list(payload.host) }))
      .onCall(listHostsV1, async ({ payload }) => ({ hosts: await hosts.list(payload.host) }))
      .onCall(setHostEnabled, async ({ payload }) =>
        hosts.setEnabled(payload.host, payload.enabled, payload.disabled_reason),
      )
      .onCall(setHostEnabledV1, async ({ payload }) =>
        hosts.setEnabled(payload.host, payload.enabled, payload.disabled_reason),
      )
      .onCall(setHostForcedDown, async ({ payload }) =>
        hosts.setForcedDown(payload.host, payload.forced_down),
      ),
  };
}
