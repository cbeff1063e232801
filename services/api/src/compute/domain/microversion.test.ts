import { MAX_VERSION, negotiateVersion, VersionNotAcceptable } from './microversion';

const negotiate = (openstack?: string, legacy?: string) => negotiateVersion({ openstack, legacy });

describe('microversion negotiation', () => {
  it('defaults to 2.1 without headers', () => {
    expect(negotiate().toString()).toBe('2.1');
  });

  it('reads the compute entry of OpenStack-API-Version before the legacy header', () => {
    expect(negotiate('compute 2.61', '2.10').toString()).toBe('2.61');
    expect(negotiate('image 2.5, compute 2.47').toString()).toBe('2.47');
  });

  it('falls back to X-OpenStack-Nova-API-Version when the new header names another service', () => {
    expect(negotiate('image 2.5', '2.10').toString()).toBe('2.10');
  });

  it("maps 'latest' to the maximum", () => {
    expect(negotiate('compute latest')).toBe(MAX_VERSION);
    expect(negotiate(undefined, 'latest')).toBe(MAX_VERSION);
  });

  it('refuses a malformed version with a 400-kind error', () => {
    expect(() => negotiate('compute 2.x')).toThrow(expect.objectContaining({ kind: 'Invalid' }));
    expect(() => negotiate(undefined, '2')).toThrow('is of invalid format');
  });

  it('refuses versions outside the supported range as not acceptable', () => {
    expect(() => negotiate('compute 2.94')).toThrow(VersionNotAcceptable);
    expect(() => negotiate('compute 3.0')).toThrow('Minimum is 2.1 and maximum is 2.93.');
    expect(() => negotiate(undefined, '2.0')).toThrow(VersionNotAcceptable);
  });

  it('compares minor versions numerically', () => {
    const v = negotiate('compute 2.47');
    expect(v.atLeast(47)).toBe(true);
    expect(v.atLeast(48)).toBe(false);
    expect(negotiate('compute 2.9').atLeast(10)).toBe(false);
  });
});
