/** Bus handlers of a compute agent: validate (by contract), delegate to the manager. */
import {
  MessageRouter,
  buildInstance,
  buildInstanceV1,
  deleteInstance,
  getConsoleOutput,
  rebootInstance,
  snapshotInstance,
  startInstance,
  stopInstance,
  type PayloadOf,
} from '@strato/contracts';
import { AppError } from '@strato/errors';
import type { ComputeManager } from '../domain/compute.manager';

export function computeRouters(
  manager: ComputeManager,
  host: string,
): { casts: MessageRouter; rpc: MessageRouter } {
  const build = async (payload: PayloadOf<typeof buildInstance>) => {
    if (payload.host !== host) {
      throw new AppError('Invalid', `build for host ${payload.host} delivered to ${host}`);
    }
    await manager.build(payload);
  };
  return {
    casts: new MessageRouter()
      .on(buildInstance, async ({ payload }) => build(payload))
      // Sent before key_name existed (e.g. in flight during an upgrade).
      .on(buildInstanceV1, async ({ payload }) => build({ ...payload, key_name: null }))
      .on(deleteInstance, async ({ payload }) => manager.delete(payload.instance_id))
      .on(startInstance, async ({ payload }) => manager.start(payload.instance_id))
      .on(stopInstance, async ({ payload }) => manager.stop(payload.instance_id))
      .on(rebootInstance, async ({ payload }) => manager.reboot(payload.instance_id, payload.reboot_type))
      .on(snapshotInstance, async ({ payload }) => manager.snapshot(payload.instance_id, payload.image_id)),
    rpc: new MessageRouter().onCall(getConsoleOutput, async ({ payload }) => ({
      output: await manager.consoleOutput(payload.instance_id, payload.length),
    })),
  };
}
