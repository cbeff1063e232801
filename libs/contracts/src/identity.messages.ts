/** Messages served by Identity (the api service) for other services. */
import { z } from 'zod';
import { defineMessage } from './contract';

/** The queue (and routing key) Identity serves its RPCs on. */
export const IDENTITY_RPC_QUEUE = 'identity.ec2_lookup';

export const ec2Lookup = defineMessage({
  type: 'identity.ec2_lookup',
  version: 1,
  kind: 'rpc',
  description:
    'object-storage → api (RPC): the secret, user, project and role names of an EC2 access key, for S3 signatures.',
  schema: z.object({ access: z.string().min(1).max(255) }),
  reply: z.union([
    z.object({ found: z.literal(false) }),
    z.object({
      found: z.literal(true),
      secret: z.string().min(1),
      user_id: z.string().min(1),
      project_id: z.string().min(1),
      roles: z.array(z.string()),
    }),
  ]),
});
