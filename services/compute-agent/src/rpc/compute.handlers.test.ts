import { randomUUID } from 'node:crypto';
import type { Envelope } from '@strato/bus';
import {
  buildInstance,
  buildInstanceV1,
  outgoing,
  sampleInstanceSpec,
  snapshotInstance,
  type MessageContract,
} from '@strato/contracts';
import type { z } from 'zod';
import type { BuildRequest, ComputeManager } from '../domain/compute.manager';
import { computeRouters } from './compute.handlers';

/** The manager's side of the calls, recorded. */
class ManagerCalls {
  readonly builds: BuildRequest[] = [];
  readonly snapshots: [string, string][] = [];

  async build(request: BuildRequest) {
    this.builds.push(request);
  }

  async snapshot(instanceId: string, imageId: string) {
    this.snapshots.push([instanceId, imageId]);
  }
}

function envelope<C extends MessageContract>(contract: C, payload: z.input<C['schema']>): Envelope<unknown> {
  const message = outgoing(contract, payload);
  return {
    ...message,
    id: randomUUID(),
    requestId: 'req-1',
    sender: 'test',
    sentAt: new Date().toISOString(),
  };
}

const context = { queue: 'compute.node1', deliveries: 1, redelivered: false };

describe('compute agent handlers', () => {
  const calls = new ManagerCalls();
  const casts = computeRouters(calls as unknown as ComputeManager, 'node1').casts.handler();

  it('hands a snapshot cast to the manager', async () => {
    const [instanceId, imageId] = [randomUUID(), randomUUID()];
    await casts(envelope(snapshotInstance, { instance_id: instanceId, image_id: imageId }), context);
    expect(calls.snapshots).toEqual([[instanceId, imageId]]);
  });

  it('builds from build_instance v2, and from v1 as a server without a key pair name', async () => {
    const { key_name: _none, ...v1 } = sampleInstanceSpec();
    await casts(envelope(buildInstanceV1, { ...v1, host: 'node1', attempt: 1 }), context);
    const v2 = sampleInstanceSpec({ key_name: 'mykey' });
    await casts(envelope(buildInstance, { ...v2, host: 'node1', attempt: 1 }), context);
    expect(calls.builds.map((b) => b.key_name)).toEqual([null, 'mykey']);
  });

  it('refuses a build meant for another host', async () => {
    await expect(
      casts(envelope(buildInstance, { ...sampleInstanceSpec(), host: 'node2', attempt: 1 }), context),
    ).rejects.toMatchObject({ kind: 'Invalid' });
  });
});
