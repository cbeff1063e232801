import { DomainSpecError } from './domain-xml';
import { buildNatNetworkXml, type NatNetworkSpec } from './network-xml';

const spec = (overrides: Partial<NatNetworkSpec> = {}): NatNetworkSpec => ({
  name: 'default',
  address: '192.168.122.1',
  prefix: 24,
  dhcpStart: '192.168.122.2',
  dhcpEnd: '192.168.122.254',
  ...overrides,
});

describe('buildNatNetworkXml', () => {
  it('describes a NAT network with a DHCP range', () => {
    const xml = buildNatNetworkXml(spec());
    expect(xml).toContain('<name>default</name>');
    expect(xml).toContain("<forward mode='nat'/>");
    expect(xml).toContain("<ip address='192.168.122.1' prefix='24'>");
    expect(xml).toContain("<range start='192.168.122.2' end='192.168.122.254'/>");
  });

  it.each([
    ['a name with markup', { name: "<x a='1'>" }],
    ['an address that is not IPv4', { address: '192.168.122.256' }],
    ['a DHCP start that is not IPv4', { dhcpStart: "1.2.3.4'/>" }],
    ['a prefix out of range', { prefix: 31 }],
  ])('refuses %s', (_what, overrides) => {
    expect(() => buildNatNetworkXml(spec(overrides))).toThrow(DomainSpecError);
  });
});
