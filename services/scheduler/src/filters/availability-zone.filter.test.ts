import { hostState, placementRequest } from '../testing/fixtures';
import { availabilityZoneFilter } from './availability-zone.filter';

describe('AvailabilityZoneFilter', () => {
  it('passes every host when no zone is requested', () => {
    expect(availabilityZoneFilter.passes(hostState({ availabilityZone: 'az2' }), placementRequest())).toBe(
      true,
    );
  });
  it('keeps only hosts of the requested zone', () => {
    const request = placementRequest({ availabilityZone: 'az1' });
    expect(availabilityZoneFilter.passes(hostState({ availabilityZone: 'az1' }), request)).toBe(true);
    expect(availabilityZoneFilter.passes(hostState({ availabilityZone: 'nova' }), request)).toBe(false);
  });
});
