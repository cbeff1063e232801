/** Messages to one compute agent, on its own queue `compute.<host>`. */
import { z } from 'zod';
import { defineMessage } from './contract';
import { hostName, instanceId, instanceSpec } from './common';

export const buildInstance = defineMessage({
  type: 'compute.build_instance',
  version: 1,
  kind: 'cast',
  description:
    'scheduler → compute.<host>: create and start the guest for a claimed instance. ' +
    'Answered by instance.state_changed (active) or instance.build_failed.',
  schema: instanceSpec.extend({
    host: hostName,
    attempt: z.int().min(1),
  }),
});

export const deleteInstance = defineMessage({
  type: 'compute.delete_instance',
  version: 1,
  kind: 'cast',
  description:
    'api → compute.<host>: destroy and undefine the guest; answered by instance.state_changed (deleted).',
  schema: z.object({ instance_id: instanceId }),
});

export const startInstance = defineMessage({
  type: 'compute.start_instance',
  version: 1,
  kind: 'cast',
  description: 'api → compute.<host>: power the guest on (os-start); answered by state_changed active.',
  schema: z.object({ instance_id: instanceId }),
});

export const stopInstance = defineMessage({
  type: 'compute.stop_instance',
  version: 1,
  kind: 'cast',
  description: 'api → compute.<host>: power the guest off (os-stop); answered by state_changed stopped.',
  schema: z.object({ instance_id: instanceId }),
});

export const rebootInstance = defineMessage({
  type: 'compute.reboot_instance',
  version: 1,
  kind: 'cast',
  description: 'api → compute.<host>: reboot SOFT (ACPI) or HARD (reset); answered by state_changed active.',
  schema: z.object({ instance_id: instanceId, reboot_type: z.enum(['SOFT', 'HARD']) }),
});

export const getConsoleOutput = defineMessage({
  type: 'compute.get_console_output',
  version: 1,
  kind: 'rpc',
  description:
    'api → compute.<host> (RPC): the guest console log (os-getConsoleOutput), last `length` lines.',
  schema: z.object({ instance_id: instanceId, length: z.int().min(0).nullable() }),
  reply: z.object({ output: z.string() }),
});
