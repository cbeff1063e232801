import { deliveriesOf, HEADERS, topicMatches } from './topology';

describe('topicMatches', () => {
  it.each([
    ['compute.host1', 'compute.host1', true],
    ['compute.*', 'compute.host1', true],
    ['compute.*', 'compute.host1.build', false],
    ['compute.#', 'compute', true],
    ['compute.#', 'compute.host1.build', true],
    ['#.build', 'compute.host1.build', true],
    ['*.build', 'compute.host1.build', false],
    ['#', '', true],
    ['compute.host1', 'compute.host2', false],
  ])('pattern %s against %s is %s', (pattern, key, expected) => {
    expect(topicMatches(pattern, key)).toBe(expected);
  });
});

describe('deliveriesOf', () => {
  it('counts the first delivery as 1', () => {
    expect(deliveriesOf({})).toBe(1);
  });

  it('adds the current delivery to those recorded on a requeued copy', () => {
    expect(deliveriesOf({ [HEADERS.deliveries]: 2 })).toBe(3);
  });

  it('ignores a damaged counter', () => {
    expect(deliveriesOf({ [HEADERS.deliveries]: 'lots' })).toBe(1);
  });
});
