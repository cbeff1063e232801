import { headroom, instancesAllowed, assertWithin } from './quota';

const limits = { instances: 10, cores: 20, ram: 51200 };
const tiny = { vcpus: 1, ramMb: 512 };

describe('quota arithmetic', () => {
  it('treats -1 as unlimited and never goes negative', () => {
    expect(headroom(-1, 1e9)).toBe(Infinity);
    expect(headroom(10, 12)).toBe(0);
  });

  it('allows max_count when everything fits', () => {
    expect(instancesAllowed(limits, { instances: 0, cores: 0, ram: 0 }, tiny, 1, 3)).toBe(3);
  });

  it('lowers the count to what fits when at least min_count does', () => {
    expect(instancesAllowed(limits, { instances: 8, cores: 8, ram: 4096 }, tiny, 1, 5)).toBe(2);
    expect(instancesAllowed(limits, { instances: 0, cores: 18, ram: 0 }, { vcpus: 2, ramMb: 1 }, 1, 5)).toBe(
      1,
    );
  });

  it("refuses with Nova's message when min_count does not fit", () => {
    expect(() => instancesAllowed(limits, { instances: 10, cores: 10, ram: 5120 }, tiny, 1, 1)).toThrow(
      'Quota exceeded for instances: Requested 1, but already used 10 of 10 instances',
    );
    expect(() =>
      instancesAllowed(limits, { instances: 1, cores: 19, ram: 0 }, { vcpus: 2, ramMb: 1 }, 1, 1),
    ).toThrow(expect.objectContaining({ kind: 'QuotaExceeded', message: expect.stringContaining('cores') }));
  });

  it('checks ram in MiB', () => {
    expect(() =>
      instancesAllowed({ ...limits, ram: 1024 }, { instances: 0, cores: 0, ram: 768 }, tiny, 1, 1),
    ).toThrow('Quota exceeded for ram: Requested 512, but already used 768 of 1024 ram');
  });

  it('checks a single resource delta', () => {
    expect(() => assertWithin('key_pairs', 2, 2, 1)).toThrow(
      expect.objectContaining({ kind: 'QuotaExceeded' }),
    );
    expect(() => assertWithin('key_pairs', -1, 2, 1)).not.toThrow();
  });
});
