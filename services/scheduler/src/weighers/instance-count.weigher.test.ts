import { hostState, placementRequest } from '../testing/fixtures';
import { instanceCountWeigher } from './instance-count.weigher';

describe('InstanceCountWeigher', () => {
  it('scores the number of instances on the host', () => {
    expect(instanceCountWeigher.weigh(hostState({ instanceCount: 7 }), placementRequest())).toBe(7);
  });
});
