/** Messages to one compute agent, on its own queue `compute.<host>`. */
import { z } from 'zod';
import { defineMessage } from './contract';
import { hostName, instanceId, instanceSpec, instanceSpecV1 } from './common';

const buildFields = {
  host: hostName,
  attempt: z.int().min(1),
};

export const buildInstance = defineMessage({
  type: 'compute.build_instance',
  version: 2,
  kind: 'cast',
  description:
    'scheduler → compute.<host>: create and start the guest for a claimed instance. ' +
    'Answered by instance.state_changed (active) or instance.build_failed. ' +
    'v2 adds key_name to the instance spec.',
  schema: instanceSpec.extend(buildFields),
});

/** Superseded by v2 (no key_name); still accepted by agents, never sent. */
export const buildInstanceV1 = defineMessage({
  type: 'compute.build_instance',
  version: 1,
  kind: 'cast',
  description: 'compute.build_instance before key_name: read as v2 with key_name null.',
  schema: instanceSpecV1.extend(buildFields),
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

export const snapshotInstance = defineMessage({
  type: 'compute.snapshot_instance',
  version: 1,
  kind: 'cast',
  description:
    "api → compute.<host>: copy the guest's root disk, flattened, into the queued image `image_id` " +
    '(createImage). Answered by state_changed with task_state image_uploading, then null; on failure ' +
    'the image is deleted and the instance keeps its state.',
  schema: z.object({
    instance_id: instanceId,
    /** The queued image the api created for the snapshot (owned by the instance's project). */
    image_id: z.uuid(),
  }),
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
