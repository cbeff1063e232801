/** Bus handlers of a compute agent: validate (by contract), delegate to the manager. */
import {
  MessageRouter,
  buildInstance,
  deleteInstance,
  getConsoleOutput,
  rebootInstance,
  startInstance,
  stopInstance,
} from '@strato/contracts';
import { AppError } from '@strato/errors';
import type { ComputeManager } from '../domain/compute.manager';

export function computeRouters(
  manager: ComputeManager,
  host: string,
): { casts: MessageRouter; rpc: MessageRouter } {
  return {
    casts: new MessageRouter()
      .on(buildInstance, async ({ payload }) => {
        if (payload.host !== host) {
          throw new AppError('Invalid', `build for host ${payload.host} delivered to ${host}`);
        }
        await manager.build(payload);
      })
      .on(deleteInstance, async ({ payload }) => manager.delete(payload.instance_id))
      .on(startInstance, async ({ payload }) => manager.start(payload.instance_id))
      .on(stopInstance, async ({ payload }) => manager.stop(payload.instance_id))
      .on(rebootInstance, async ({ payload }) => manager.reboot(payload.instance_id, payload.reboot_type)),
    rpc: new MessageRouter().onCall(getConsoleOutput, async ({ payload }) => ({
      output: await manager.consoleOutput(payload.instance_id, payload.length),
    })),
  };
}
