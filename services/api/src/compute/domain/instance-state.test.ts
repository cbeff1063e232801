import {
  applyStateEvent,
  assertActionAllowed,
  serverStatus,
  vmStatesForStatus,
  type StateEvent,
  type TrackedState,
} from './instance-state';
import { stateEvent } from '../testing/fixtures';

const id = '11111111-1111-4111-8111-111111111111';

const building: TrackedState = {
  vmState: 'building',
  taskState: 'scheduling',
  powerState: 0,
  host: null,
  attempt: 1,
  lastEventAt: null,
  launchedAt: null,
  terminatedAt: null,
  fault: null,
  deleted: false,
};

const event = (over: Partial<StateEvent>): StateEvent => stateEvent(over);

describe('server status', () => {
  it('derives Nova statuses from vm_state and task_state', () => {
    expect(serverStatus('building', 'scheduling')).toBe('BUILD');
    expect(serverStatus('active', null)).toBe('ACTIVE');
    expect(serverStatus('active', 'powering-off')).toBe('ACTIVE');
    expect(serverStatus('active', 'rebooting')).toBe('REBOOT');
    expect(serverStatus('active', 'rebooting_hard')).toBe('HARD_REBOOT');
    expect(serverStatus('stopped', 'rebooting_hard')).toBe('HARD_REBOOT');
    expect(serverStatus('stopped', 'powering-on')).toBe('SHUTOFF');
    expect(serverStatus('error', null)).toBe('ERROR');
    expect(serverStatus('deleted', null)).toBe('DELETED');
  });

  it('maps a status filter back to vm_states, nothing for unknown ones', () => {
    expect(vmStatesForStatus('shutoff')).toEqual(['stopped']);
    expect(vmStatesForStatus('REBOOT')).toEqual(['active']);
    expect(vmStatesForStatus('BOGUS')).toEqual([]);
  });
});

describe('actions allowed by state', () => {
  it("refuses os-stop of a stopped instance with Nova's message", () => {
    expect(() => assertActionAllowed('stop', { id, vmState: 'stopped', taskState: null })).toThrow(
      `Cannot 'stop' instance ${id} while it is in vm_state stopped`,
    );
  });

  it('refuses an action while another task runs', () => {
    expect(() => assertActionAllowed('start', { id, vmState: 'stopped', taskState: 'powering-on' })).toThrow(
      expect.objectContaining({
        kind: 'Conflict',
        message: expect.stringContaining('task_state powering-on'),
      }),
    );
  });

  it('allows a hard reboot of a stopped instance but not a soft one', () => {
    expect(() =>
      assertActionAllowed('reboot_hard', { id, vmState: 'stopped', taskState: null }),
    ).not.toThrow();
    expect(() => assertActionAllowed('reboot', { id, vmState: 'stopped', taskState: null })).toThrow(
      expect.objectContaining({ kind: 'Conflict' }),
    );
  });

  it('allows stopping an instance in error', () => {
    expect(() => assertActionAllowed('stop', { id, vmState: 'error', taskState: null })).not.toThrow();
  });

  it('allows createImage of an active, stopped, paused or suspended instance with no task', () => {
    for (const vmState of ['active', 'stopped', 'paused', 'suspended'] as const) {
      expect(() => assertActionAllowed('createImage', { id, vmState, taskState: null })).not.toThrow();
    }
    expect(() => assertActionAllowed('createImage', { id, vmState: 'building', taskState: null })).toThrow(
      `Cannot 'createImage' instance ${id} while it is in vm_state building`,
    );
    expect(() =>
      assertActionAllowed('createImage', { id, vmState: 'active', taskState: 'image_snapshot' }),
    ).toThrow(`Cannot 'createImage' instance ${id} while it is in task_state image_snapshot`);
  });
});

describe('state events', () => {
  it("follows a snapshot's task_states and keeps the server ACTIVE meanwhile", () => {
    const active = { ...building, vmState: 'active' as const, taskState: 'image_snapshot' as const };
    const uploading = applyStateEvent(active, event({ attempt: null, task_state: 'image_uploading' }));
    expect(uploading.kind === 'apply' && uploading.next.taskState).toBe('image_uploading');
    expect(serverStatus('active', 'image_uploading')).toBe('ACTIVE');
    expect(serverStatus('stopped', 'image_snapshot')).toBe('SHUTOFF');
  });

  it('applies a build completion: active, host, launched_at', () => {
    const out = applyStateEvent(building, event({}));
    expect(out).toEqual({
      kind: 'apply',
      next: expect.objectContaining({
        vmState: 'active',
        taskState: null,
        host: 'node1',
        launchedAt: '2026-01-01T00:00:10.000Z',
      }),
    });
  });

  it('ignores an event older than the last applied one', () => {
    const active = { ...building, vmState: 'active' as const, lastEventAt: '2026-01-01T00:00:10.000Z' };
    expect(applyStateEvent(active, event({ occurred_at: '2026-01-01T00:00:09.000Z' }))).toEqual({
      kind: 'stale',
    });
  });

  it('ignores events of an earlier build attempt, even if later in time', () => {
    const second = { ...building, attempt: 2, lastEventAt: '2026-01-01T00:00:10.000Z' };
    expect(applyStateEvent(second, event({ attempt: 1, occurred_at: '2026-01-01T00:01:00.000Z' })).kind).toBe(
      'stale',
    );
  });

  it('applies a redelivered event again without changing the result', () => {
    const once = applyStateEvent(building, event({}));
    if (once.kind !== 'apply') throw new Error('expected apply');
    const twice = applyStateEvent(once.next, event({}));
    expect(twice).toEqual(once);
  });

  it('records the fault of an error with its time', () => {
    const out = applyStateEvent(
      building,
      event({
        host: null,
        vm_state: 'error',
        power_state: 0,
        fault: { code: 500, message: 'No valid host was found.', details: null },
      }),
    );
    expect(out.kind === 'apply' && out.next.fault).toEqual({
      code: 500,
      message: 'No valid host was found.',
      details: null,
      created: '2026-01-01T00:00:10.000Z',
    });
  });

  it("keeps a pending delete's task until the guest is gone", () => {
    const deleting = {
      ...building,
      vmState: 'active' as const,
      taskState: 'deleting' as const,
      host: 'node1',
    };
    const stopped = applyStateEvent(deleting, event({ vm_state: 'stopped', power_state: 4 }));
    expect(stopped.kind === 'apply' && stopped.next.taskState).toBe('deleting');
    const gone = applyStateEvent(deleting, event({ vm_state: 'deleted', power_state: 0 }));
    expect(gone.kind === 'apply' && gone.next).toMatchObject({ deleted: true, vmState: 'deleted' });
  });

  it('asks for a cleanup when a deleted instance turns up on a host', () => {
    expect(applyStateEvent({ ...building, deleted: true }, event({ host: 'node2' }))).toEqual({
      kind: 'cleanup',
      host: 'node2',
    });
  });
});
