import type { HostFilter } from '../domain/plugins';
import type { HostState } from '../domain/model';

/**
 * Matches one requirement against a host value with Nova's extra-spec operators:
 * `= N` (at least N), `== N`, `!= N`, `>= N`, `<= N` (numeric), `s== x`, `s!= x` (string),
 * `<in> x` (substring), `<or> a <or> b` (any of), and a bare value (string equality).
 */
export function matchesRequirement(actual: string | undefined, requirement: string): boolean {
  if (actual === undefined) return false;
  const req = requirement.trim();
  const words = req.split(/\s+/);
  const op = words[0] ?? '';
  const rest = req.slice(op.length).trim();
  const num = (s: string) => (s.trim() === '' ? NaN : Number(s));
  const a = num(actual);
  const b = num(rest);
  switch (op) {
    case '=':
      return a >= b;
    case '==':
      return a === b;
    case '!=':
      return a !== b;
    case '>=':
      return a >= b;
    case '<=':
      return a <= b;
    case 's==':
      return actual === rest;
    case 's!=':
      return actual !== rest;
    case '<in>':
      return actual.includes(rest);
    case '<or>':
      return req
        .split('<or>')
        .map((s) => s.trim())
        .filter((s) => s.length > 0)
        .includes(actual);
    default:
      return actual === req;
  }
}

function capability(host: HostState, name: string): string | undefined {
  switch (name) {
    case 'hypervisor_type':
      return host.hypervisorType;
    case 'hypervisor_version':
      return String(host.hypervisorVersion);
    case 'cpu_arch':
    case 'architecture':
      return host.architecture;
    default:
      return host.capabilities[name];
  }
}

/**
 * The flavor's scoped extra_specs against the host (Nova's ComputeCapabilitiesFilter and
 * AggregateInstanceExtraSpecsFilter, plus required/forbidden traits):
 * - `capabilities:<name>`: hypervisor_type, hypervisor_version, cpu_arch or a reported capability;
 * - `aggregate_instance_extra_specs:<key>`: a capability (Strato has no aggregates yet; agents
 *   report aggregate metadata as capabilities);
 * - `trait:<NAME>` = `required` | `forbidden`.
 * Other keys (hw:, quota:, …) are for the agent, not the scheduler, and are ignored here.
 */
export const extraSpecsFilter: HostFilter = {
  name: 'ExtraSpecsFilter',
  passes: (host, request) => {
    for (const [key, value] of Object.entries(request.extraSpecs)) {
      const colon = key.indexOf(':');
      if (colon < 0) continue;
      const scope = key.slice(0, colon);
      const name = key.slice(colon + 1);
      if (scope === 'capabilities' || scope === 'aggregate_instance_extra_specs') {
        if (!matchesRequirement(capability(host, name), value)) return false;
      } else if (scope === 'trait') {
        const has = host.traits.includes(name);
        if (value === 'required' && !has) return false;
        if (value === 'forbidden' && has) return false;
      }
    }
    return true;
  },
};
