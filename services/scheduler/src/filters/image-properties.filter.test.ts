import { hostState, placementRequest } from '../testing/fixtures';
import { imagePropertiesFilter } from './image-properties.filter';

const image = (properties: Record<string, string>) => placementRequest({ imageProperties: properties });

describe('ImagePropertiesFilter', () => {
  it('passes images without hypervisor or architecture requirements', () => {
    expect(imagePropertiesFilter.passes(hostState(), image({ os_distro: 'debian' }))).toBe(true);
  });
  it('matches hypervisor_type, treating kvm and qemu as one family', () => {
    expect(
      imagePropertiesFilter.passes(hostState({ hypervisorType: 'QEMU' }), image({ hypervisor_type: 'kvm' })),
    ).toBe(true);
    expect(
      imagePropertiesFilter.passes(hostState({ hypervisorType: 'QEMU' }), image({ img_hv_type: 'lxc' })),
    ).toBe(false);
  });
  it('matches the architecture, with common aliases', () => {
    expect(imagePropertiesFilter.passes(hostState(), image({ architecture: 'amd64' }))).toBe(true);
    expect(imagePropertiesFilter.passes(hostState(), image({ hw_architecture: 'aarch64' }))).toBe(false);
  });
});
