/**
 * Identity's bus handlers: validate, call the domain, reply. `identity.ec2_lookup` turns an
 * S3 access key into what object storage needs to check a signature and authorise.
 */
import type { Bus, Subscription } from '@strato/bus';
import { IDENTITY_RPC_QUEUE, ec2Lookup, type PayloadOf, type ReplyOf } from '@strato/contracts';
import { isAppError } from '@strato/errors';
import type { IdentityService } from '../identity.service';

type Ec2Reply = ReplyOf<typeof ec2Lookup>;

export async function lookupEc2(identity: IdentityService, access: string): Promise<Ec2Reply> {
  try {
    const found = await identity.ec2Lookup(access);
    return {
      found: true,
      secret: found.secret,
      user_id: found.userId,
      project_id: found.projectId,
      roles: found.roles.map((r) => r.name),
    };
  } catch (err) {
    if (isAppError(err) && err.kind === 'Unauthorized') return { found: false };
    throw err;
  }
}

export function serveIdentityRpc(bus: Bus, identity: IdentityService): Promise<Subscription> {
  return bus.serve<PayloadOf<typeof ec2Lookup>, Ec2Reply>(
    IDENTITY_RPC_QUEUE,
    async (envelope) => lookupEc2(identity, envelope.payload.access),
    { schema: ec2Lookup.schema },
  );
}
