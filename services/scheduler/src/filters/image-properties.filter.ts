import type { HostFilter } from '../domain/plugins';

/** kvm and qemu images run on the same (QEMU) hypervisor, as in Nova. */
function hypervisorFamily(value: string): string {
  const v = value.trim().toLowerCase();
  return v === 'kvm' ? 'qemu' : v;
}

const ARCH_ALIASES: Readonly<Record<string, string>> = {
  amd64: 'x86_64',
  x64: 'x86_64',
  i386: 'i686',
  arm64: 'aarch64',
};

function architecture(value: string): string {
  const v = value.trim().toLowerCase();
  return ARCH_ALIASES[v] ?? v;
}

/**
 * The image's hypervisor_type (or img_hv_type) and architecture (or hw_architecture)
 * properties, when set, must match the host.
 */
export const imagePropertiesFilter: HostFilter = {
  name: 'ImagePropertiesFilter',
  passes: (host, request) => {
    const props = request.imageProperties;
    const hvType = props.img_hv_type ?? props.hypervisor_type;
    if (hvType !== undefined && hypervisorFamily(hvType) !== hypervisorFamily(host.hypervisorType))
      return false;
    const arch = props.hw_architecture ?? props.architecture;
    if (arch !== undefined && architecture(arch) !== architecture(host.architecture)) return false;
    return true;
  },
};
