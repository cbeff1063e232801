/**
 * Libvirt network XML from typed data: a NAT network with DHCP, the kind libvirt ships as
 * 'default' (a bridge, masquerading to the host's uplink, dnsmasq serving addresses). Every
 * value is escaped; libvirt picks the bridge name (virbrN) itself.
 */
import { DomainSpecError, escapeXml } from './domain-xml';

export interface NatNetworkSpec {
  /** libvirt network name: letters, digits, '.', '_', '-'. */
  name: string;
  /** The host's address on the bridge, e.g. 192.168.122.1. */
  address: string;
  /** Prefix length of the subnet (8-30). */
  prefix: number;
  /** DHCP range handed to guests. */
  dhcpStart: string;
  dhcpEnd: string;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const IPV4_RE = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/** Builds the XML of a NAT network. Throws DomainSpecError on invalid input. */
export function buildNatNetworkXml(spec: NatNetworkSpec): string {
  if (!NAME_RE.test(spec.name))
    throw new DomainSpecError('network name must be 1-64 letters, digits, ., _ or -');
  for (const [what, value] of [
    ['address', spec.address],
    ['dhcpStart', spec.dhcpStart],
    ['dhcpEnd', spec.dhcpEnd],
  ] as const) {
    if (!IPV4_RE.test(value)) throw new DomainSpecError(`${what} must be an IPv4 address`);
  }
  if (!Number.isInteger(spec.prefix) || spec.prefix < 8 || spec.prefix > 30) {
    throw new DomainSpecError('prefix must be an integer between 8 and 30');
  }
  const a = (value: string | number) => escapeXml(String(value));
  return [
    '<network>',
    `  <name>${a(spec.name)}</name>`,
    `  <forward mode='nat'/>`,
    `  <ip address='${a(spec.address)}' prefix='${a(spec.prefix)}'>`,
    '    <dhcp>',
    `      <range start='${a(spec.dhcpStart)}' end='${a(spec.dhcpEnd)}'/>`,
    '    </dhcp>',
    '  </ip>',
    '</network>',
    '',
  ].join('\n');
}
