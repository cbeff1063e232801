import { hostState, placementRequest } from '../testing/fixtures';
import { extraSpecsFilter, matchesRequirement } from './extra-specs.filter';

const specs = (extraSpecs: Record<string, string>) => placementRequest({ extraSpecs });

describe('ExtraSpecsFilter', () => {
  it('matches capabilities:hypervisor_type against the host', () => {
    expect(extraSpecsFilter.passes(hostState(), specs({ 'capabilities:hypervisor_type': 'QEMU' }))).toBe(
      true,
    );
    expect(extraSpecsFilter.passes(hostState(), specs({ 'capabilities:hypervisor_type': 'Xen' }))).toBe(
      false,
    );
  });
  it('matches reported capabilities and aggregate metadata', () => {
    const host = hostState({ capabilities: { ssd: 'true', gpu_count: '2' } });
    expect(extraSpecsFilter.passes(host, specs({ 'aggregate_instance_extra_specs:ssd': 'true' }))).toBe(true);
    expect(extraSpecsFilter.passes(host, specs({ 'capabilities:gpu_count': '>= 4' }))).toBe(false);
    expect(extraSpecsFilter.passes(host, specs({ 'capabilities:missing': 'x' }))).toBe(false);
  });
  it('requires and forbids traits', () => {
    const host = hostState({ traits: ['HW_CPU_X86_AVX2'] });
    expect(extraSpecsFilter.passes(host, specs({ 'trait:HW_CPU_X86_AVX2': 'required' }))).toBe(true);
    expect(extraSpecsFilter.passes(host, specs({ 'trait:HW_CPU_X86_AVX2': 'forbidden' }))).toBe(false);
    expect(extraSpecsFilter.passes(host, specs({ 'trait:CUSTOM_GPU': 'required' }))).toBe(false);
  });
  it('ignores specs meant for the hypervisor (hw:, quota:) and unscoped keys', () => {
    expect(extraSpecsFilter.passes(hostState(), specs({ 'hw:cpu_policy': 'dedicated', foo: 'bar' }))).toBe(
      true,
    );
  });
  it.each([
    ['4', '= 2', true],
    ['1', '= 2', false],
    ['2', '== 2', true],
    ['abc', 's== abc', true],
    ['abc', 's!= abc', false],
    ['x86_64 avx2', '<in> avx2', true],
    ['b', '<or> a <or> b', true],
    ['c', '<or> a <or> b', false],
  ])('operator: %s against "%s" → %s', (actual, requirement, expected) => {
    expect(matchesRequirement(actual, requirement)).toBe(expected);
  });
});
