/**
 * The typed clients: the only code that knows where a message goes (like nova's rpcapi.py).
 * Each method validates its payload against the contract before anything is sent.
 */
import type { Bus, Envelope } from '@strato/bus';
import { callMessage, publishMessage, type PayloadOf, type ReplyOf, type SendOptions } from './contract';
import * as compute from './compute.messages';
import * as events from './events.messages';
import * as scheduler from './scheduler.messages';
import { routingKeys } from './topology';
import type { z } from 'zod';

type In<C extends { schema: z.ZodType }> = z.input<C['schema']>;
type RpcOptions = SendOptions & { timeoutMs?: number };

/** To the scheduler (used by the api, and by the scheduler to reschedule). */
export class SchedulerClient {
  constructor(private readonly bus: Bus) {}

  scheduleInstance(
    payload: In<typeof scheduler.scheduleInstance>,
    options?: SendOptions,
  ): Promise<Envelope<PayloadOf<typeof scheduler.scheduleInstance>>> {
    return publishMessage(
      this.bus,
      routingKeys.scheduleInstance,
      scheduler.scheduleInstance,
      payload,
      options,
    );
  }

  releaseClaim(instanceId: string, options?: SendOptions): Promise<Envelope<{ instance_id: string }>> {
    return publishMessage(
      this.bus,
      routingKeys.releaseClaim,
      scheduler.releaseClaim,
      { instance_id: instanceId },
      options,
    );
  }

  /** Hypervisors for os-hypervisors / os-services; `host` narrows to one. */
  listHosts(host: string | null = null, options?: RpcOptions): Promise<ReplyOf<typeof scheduler.listHosts>> {
    return callMessage(this.bus, routingKeys.schedulerRpc, scheduler.listHosts, { host }, options);
  }

  setHostEnabled(
    payload: In<typeof scheduler.setHostEnabled>,
    options?: RpcOptions,
  ): Promise<ReplyOf<typeof scheduler.setHostEnabled>> {
    return callMessage(this.bus, routingKeys.schedulerRpc, scheduler.setHostEnabled, payload, options);
  }

  setHostForcedDown(
    payload: In<typeof scheduler.setHostForcedDown>,
    options?: RpcOptions,
  ): Promise<ReplyOf<typeof scheduler.setHostForcedDown>> {
    return callMessage(this.bus, routingKeys.schedulerRpc, scheduler.setHostForcedDown, payload, options);
  }
}

/** To one compute agent, on its own queue. */
export class ComputeClient {
  constructor(
    private readonly bus: Bus,
    readonly host: string,
  ) {}

  private get key(): string {
    return routingKeys.computeCasts(this.host);
  }

  buildInstance(payload: In<typeof compute.buildInstance>, options?: SendOptions) {
    return publishMessage(this.bus, this.key, compute.buildInstance, payload, options);
  }

  deleteInstance(instanceId: string, options?: SendOptions) {
    return publishMessage(this.bus, this.key, compute.deleteInstance, { instance_id: instanceId }, options);
  }

  startInstance(instanceId: string, options?: SendOptions) {
    return publishMessage(this.bus, this.key, compute.startInstance, { instance_id: instanceId }, options);
  }

  stopInstance(instanceId: string, options?: SendOptions) {
    return publishMessage(this.bus, this.key, compute.stopInstance, { instance_id: instanceId }, options);
  }

  rebootInstance(instanceId: string, rebootType: 'SOFT' | 'HARD', options?: SendOptions) {
    return publishMessage(
      this.bus,
      this.key,
      compute.rebootInstance,
      { instance_id: instanceId, reboot_type: rebootType },
      options,
    );
  }

  snapshotInstance(instanceId: string, imageId: string, options?: SendOptions) {
    return publishMessage(
      this.bus,
      this.key,
      compute.snapshotInstance,
      { instance_id: instanceId, image_id: imageId },
      options,
    );
  }

  getConsoleOutput(
    instanceId: string,
    length: number | null = null,
    options?: RpcOptions,
  ): Promise<ReplyOf<typeof compute.getConsoleOutput>> {
    return callMessage(
      this.bus,
      routingKeys.computeRpc(this.host),
      compute.getConsoleOutput,
      { instance_id: instanceId, length },
      options,
    );
  }
}

/** Events, published on the topic exchange for whoever binds to them. */
export class EventPublisher {
  constructor(private readonly bus: Bus) {}

  instanceStateChanged(payload: In<typeof events.instanceStateChanged>, options?: SendOptions) {
    return publishMessage(
      this.bus,
      routingKeys.instanceStateChanged,
      events.instanceStateChanged,
      payload,
      options,
    );
  }

  instanceBuildFailed(payload: In<typeof events.instanceBuildFailed>, options?: SendOptions) {
    return publishMessage(
      this.bus,
      routingKeys.instanceBuildFailed,
      events.instanceBuildFailed,
      payload,
      options,
    );
  }

  hostReport(payload: In<typeof events.hostReport>, options?: SendOptions) {
    return publishMessage(this.bus, routingKeys.hostReport, events.hostReport, payload, options);
  }

  /** Informational: not refused when nobody (no api) is bound to it yet. */
  hostInstances(payload: In<typeof events.hostInstances>, options?: SendOptions) {
    return publishMessage(this.bus, routingKeys.hostInstances, events.hostInstances, payload, options, {
      mandatory: false,
    });
  }
}
