import { loadApiConfig } from '../config';
import { catalogFromConfig, endpointUrl } from './catalog';

const base = { TOKEN_SIGNING_KEYS: `k1:${'x'.repeat(32)}` };

describe('catalogFromConfig', () => {
  it('lists identity, compute, image and object-store, internal and admin defaulting to public', () => {
    const spec = catalogFromConfig(
      loadApiConfig({ ...base, REGION: 'RegionTwo', COMPUTE_INTERNAL_URL: 'http://10.0.0.1:8774/v2.1' }),
    );
    expect(spec.region).toBe('RegionTwo');
    expect(spec.services.map((s) => `${s.name}:${s.type}`)).toEqual([
      'keystone:identity',
      'nova:compute',
      'glance:image',
      'swift:object-store',
    ]);
    const compute = spec.services[1]!.urls;
    expect(compute).toEqual({
      public: 'http://127.0.0.1:8774/v2.1',
      internal: 'http://10.0.0.1:8774/v2.1',
      admin: 'http://127.0.0.1:8774/v2.1',
    });
    expect(spec.services[3]!.urls.public).toContain('%(project_id)s');
  });
});

describe('endpointUrl', () => {
  it('substitutes %(project_id)s and %(tenant_id)s with the project id', () => {
    expect(endpointUrl('http://s/v1/AUTH_%(project_id)s', 'p1')).toBe('http://s/v1/AUTH_p1');
    expect(endpointUrl('http://s/%(tenant_id)s/x', 'p1')).toBe('http://s/p1/x');
    expect(endpointUrl('http://plain', null)).toBe('http://plain');
  });

  it('gives no URL when one needs a project and there is none', () => {
    expect(endpointUrl('http://s/v1/AUTH_%(project_id)s', null)).toBeNull();
  });
});
