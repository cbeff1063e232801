/**
 * The instance state machine as Nova's API shows it: status derived from vm_state and
 * task_state, which actions each state allows (409 otherwise, with Nova's message), and how a
 * state event from the scheduler or an agent updates an instance (stale ones are ignored).
 */
import { conflict } from '@strato/errors';
import type { Fault, PowerState, TaskState, VmState } from '@strato/contracts';

export type { Fault, PowerState, TaskState, VmState };

const REBOOT_STATUS: Partial<Record<TaskState, string>> = {
  rebooting: 'REBOOT',
  reboot_pending: 'REBOOT',
  reboot_started: 'REBOOT',
  rebooting_hard: 'HARD_REBOOT',
  reboot_pending_hard: 'HARD_REBOOT',
  reboot_started_hard: 'HARD_REBOOT',
};

const VM_STATUS: Record<VmState, string> = {
  building: 'BUILD',
  active: 'ACTIVE',
  stopped: 'SHUTOFF',
  paused: 'PAUSED',
  suspended: 'SUSPENDED',
  rescued: 'RESCUE',
  resized: 'VERIFY_RESIZE',
  'soft-delete': 'SOFT_DELETED',
  deleted: 'DELETED',
  error: 'ERROR',
  shelved: 'SHELVED',
  shelved_offloaded: 'SHELVED_OFFLOADED',
};

/** Nova's server status for a (vm_state, task_state) pair. */
export function serverStatus(vmState: VmState, taskState: TaskState | null): string {
  if (taskState && (vmState === 'active' || vmState === 'stopped')) {
    const rebooting = REBOOT_STATUS[taskState];
    if (rebooting && (vmState === 'active' || rebooting === 'HARD_REBOOT')) return rebooting;
  }
  return VM_STATUS[vmState];
}

/** The vm_states that can show a status (for list filters); empty for an unknown status. */
export function vmStatesForStatus(status: string): VmState[] {
  const wanted = status.toUpperCase();
  if (wanted === 'REBOOT') return ['active'];
  if (wanted === 'HARD_REBOOT') return ['active', 'stopped'];
  return (Object.keys(VM_STATUS) as VmState[]).filter((vm) => VM_STATUS[vm] === wanted);
}

/** Actions whose allowed states Nova checks (check_instance_state). */
export type InstanceAction = 'stop' | 'start' | 'reboot' | 'reboot_hard' | 'update_metadata' | 'createImage';

interface Rule {
  vm: readonly VmState[];
  /** Allowed task states; undefined means any. */
  task?: readonly (TaskState | null)[];
}

const RULES: Record<InstanceAction, Rule> = {
  stop: { vm: ['active', 'error'], task: [null] },
  start: { vm: ['stopped'], task: [null] },
  reboot: { vm: ['active'], task: [null] },
  reboot_hard: {
    vm: ['active', 'stopped', 'paused', 'suspended', 'error'],
    task: [null, 'rebooting', 'reboot_pending', 'reboot_started'],
  },
  update_metadata: { vm: ['active', 'paused', 'suspended', 'stopped'] },
  createImage: { vm: ['active', 'stopped', 'paused', 'suspended'], task: [null] },
};

/** The name Nova uses in its conflict message for each action. */
const ACTION_NAME: Record<InstanceAction, string> = {
  stop: 'stop',
  start: 'start',
  reboot: 'reboot',
  reboot_hard: 'reboot',
  update_metadata: 'update_metadata',
  createImage: 'createImage',
};

/** Throws Conflict (409) with Nova's message when the instance's state forbids the action. */
export function assertActionAllowed(
  action: InstanceAction,
  instance: { id: string; vmState: VmState; taskState: TaskState | null },
): void {
  const rule = RULES[action];
  const name = ACTION_NAME[action];
  if (!rule.vm.includes(instance.vmState)) {
    throw conflict(`Cannot '${name}' instance ${instance.id} while it is in vm_state ${instance.vmState}`);
  }
  if (rule.task && !rule.task.includes(instance.taskState)) {
    throw conflict(
      `Cannot '${name}' instance ${instance.id} while it is in task_state ${instance.taskState ?? 'None'}`,
    );
  }
}

/** The task_state an accepted action sets. */
export const ACTION_TASK_STATE = {
  stop: 'powering-off',
  start: 'powering-on',
  reboot: 'rebooting',
  reboot_hard: 'rebooting_hard',
  createImage: 'image_snapshot',
} as const satisfies Partial<Record<InstanceAction, TaskState>>;

/** What the api keeps of an instance's state, as the event logic sees it. */
export interface TrackedState {
  vmState: VmState;
  taskState: TaskState | null;
  powerState: PowerState;
  host: string | null;
  attempt: number;
  /** occurred_at of the last applied event (ISO, normalised), null before the first. */
  lastEventAt: string | null;
  launchedAt: string | null;
  terminatedAt: string | null;
  fault: (Fault & { created: string }) | null;
  deleted: boolean;
}

export interface StateEvent {
  host: string | null;
  attempt: number | null;
  vm_state: VmState;
  task_state: TaskState | null;
  power_state: PowerState;
  fault: Fault | null;
  occurred_at: string;
}

export type EventOutcome =
  /** Older than what is known (earlier attempt or earlier time), or a repeat: nothing to do. */
  | { kind: 'stale' }
  /** The instance is already deleted but a guest exists somewhere: have it destroyed. */
  | { kind: 'cleanup'; host: string }
  | { kind: 'apply'; next: TrackedState };

/**
 * Applies a state event. Events are ordered by (attempt, occurred_at); an event of an earlier
 * build attempt or older than the last applied one changes nothing, so redeliveries and
 * reordering are harmless. A pending delete keeps its 'deleting' task until the guest is gone.
 */
export function applyStateEvent(current: TrackedState, event: StateEvent): EventOutcome {
  const at = new Date(event.occurred_at).toISOString();
  if (current.deleted) {
    return event.vm_state !== 'deleted' && event.host
      ? { kind: 'cleanup', host: event.host }
      : { kind: 'stale' };
  }
  if (event.attempt !== null && event.attempt < current.attempt) return { kind: 'stale' };
  const newerAttempt = event.attempt !== null && event.attempt > current.attempt;
  if (!newerAttempt && current.lastEventAt !== null && at < current.lastEventAt) return { kind: 'stale' };

  if (event.vm_state === 'deleted') {
    return {
      kind: 'apply',
      next: {
        ...current,
        vmState: 'deleted',
        taskState: null,
        powerState: 0,
        lastEventAt: at,
        terminatedAt: current.terminatedAt ?? at,
        deleted: true,
      },
    };
  }
  const keepDeleting = current.taskState === 'deleting' && event.vm_state !== 'error';
  return {
    kind: 'apply',
    next: {
      ...current,
      vmState: event.vm_state,
      taskState: keepDeleting ? 'deleting' : event.task_state,
      powerState: event.power_state,
      host: event.host ?? current.host,
      attempt: Math.max(current.attempt, event.attempt ?? current.attempt),
      lastEventAt: at,
      launchedAt: current.launchedAt ?? (event.vm_state === 'active' ? at : null),
      fault:
        event.vm_state === 'error' ? (event.fault ? { ...event.fault, created: at } : current.fault) : null,
    },
  };
}
