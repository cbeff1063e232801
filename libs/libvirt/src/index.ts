/**
 * @strato/libvirt: the quarantined binding to the libvirt C library. Everything exported here
 * is pointer-free and Promise-based; the C ABI stays in ffi.ts and the native threads.
 */
export {
  LibvirtConnection,
  DOMAIN_STATES,
  domainStateName,
  type DomainState,
  type DomainRef,
  type DomainIdentity,
  type DomainInfo,
  type DomainRecord,
  type DomainStateDetail,
  type NetworkInfo,
  type NodeInfo,
  type LibvirtVersion,
  type OpenOptions,
  type GetXmlOptions,
  type UndefineOptions,
} from './connection';
export {
  LibvirtError,
  LIBVIRT_ERROR_KINDS,
  VIR_ERR,
  isLibvirtError,
  kindOfLibvirtCode,
  type LibvirtErrorKind,
  type RawLibvirtError,
} from './errors';
export {
  watchLifecycle,
  lifecycleEventName,
  LIFECYCLE_EVENTS,
  type LifecycleEvent,
  type LifecycleEventName,
  type LifecycleWatch,
  type WatchOptions,
} from './events';
export {
  buildDomainXml,
  escapeXml,
  DomainSpecError,
  STRATO_XMLNS,
  type DomainSpec,
  type DomainType,
  type OsBoot,
  type DiskSpec,
  type DiskIoTune,
  type InterfaceSpec,
  type BandwidthLimit,
  type CpuTune,
  type VcpuPin,
  type StratoMetadata,
} from './domain-xml';
export { buildNatNetworkXml, type NatNetworkSpec } from './network-xml';
export { DEFAULT_CALL_THREADS } from './ffi';
