/**
 * libvirt's virError (read with virGetLastError on the thread that made the failing call)
 * turned into one typed error. Callers match on `kind`, never on numeric codes or on
 * `instanceof` (it breaks across package copies).
 */

/** The fields of a C virError that Strato keeps. */
export interface RawLibvirtError {
  code: number;
  domain: number;
  message: string | null;
  level?: number;
  str1?: string | null;
}

export const LIBVIRT_ERROR_KINDS = [
  /** The domain does not exist (or vanished during the call). */
  'NoDomain',
  /** The virtual network does not exist. */
  'NoNetwork',
  /** A domain with this name or UUID already exists. */
  'DomainExists',
  /** The operation does not apply in the domain's current state (e.g. destroy a stopped one). */
  'OperationInvalid',
  /** The hypervisor tried and failed. */
  'OperationFailed',
  /** The hypervisor did not answer in time. */
  'Timeout',
  /** Opening or keeping the connection failed (daemon down, socket missing, RPC broke). */
  'ConnectionFailed',
  /** Authentication failed or was refused, or the connection is read-only. */
  'AccessDenied',
  /** The XML was malformed or invalid. */
  'InvalidXml',
  /** A function argument was rejected. */
  'InvalidArgument',
  /** The driver does not support this operation or configuration. */
  'NotSupported',
  /** libvirt reported an internal error. */
  'Internal',
  /** The native binding itself failed (library missing, call thread died). */
  'NativeFailure',
  /** Anything not listed above; `code` and `domain` carry the details. */
  'Other',
] as const;

export type LibvirtErrorKind = (typeof LIBVIRT_ERROR_KINDS)[number];

/** virErrorNumber values Strato distinguishes (virterror.h). */
export const VIR_ERR = {
  OK: 0,
  INTERNAL_ERROR: 1,
  NO_MEMORY: 2,
  NO_SUPPORT: 3,
  UNKNOWN_HOST: 4,
  NO_CONNECT: 5,
  INVALID_CONN: 6,
  INVALID_DOMAIN: 7,
  INVALID_ARG: 8,
  OPERATION_FAILED: 9,
  XML_ERROR: 27,
  DOM_EXIST: 28,
  OPERATION_DENIED: 29,
  XML_DETAIL: 35,
  SYSTEM_ERROR: 38,
  RPC: 39,
  NO_DOMAIN: 42,
  NO_NETWORK: 43,
  AUTH_FAILED: 45,
  OPERATION_INVALID: 55,
  CONFIG_UNSUPPORTED: 67,
  OPERATION_TIMEOUT: 68,
  ARGUMENT_UNSUPPORTED: 74,
  AUTH_CANCELLED: 79,
  OPERATION_UNSUPPORTED: 84,
  ACCESS_DENIED: 88,
  XML_INVALID_SCHEMA: 92,
  AUTH_UNAVAILABLE: 94,
  NO_SERVER: 95,
} as const;

const KIND_BY_CODE: ReadonlyMap<number, LibvirtErrorKind> = new Map<number, LibvirtErrorKind>([
  [VIR_ERR.NO_DOMAIN, 'NoDomain'],
  [VIR_ERR.INVALID_DOMAIN, 'NoDomain'],
  [VIR_ERR.NO_NETWORK, 'NoNetwork'],
  [VIR_ERR.DOM_EXIST, 'DomainExists'],
  [VIR_ERR.OPERATION_INVALID, 'OperationInvalid'],
  [VIR_ERR.OPERATION_FAILED, 'OperationFailed'],
  [VIR_ERR.OPERATION_TIMEOUT, 'Timeout'],
  [VIR_ERR.NO_CONNECT, 'ConnectionFailed'],
  [VIR_ERR.INVALID_CONN, 'ConnectionFailed'],
  [VIR_ERR.UNKNOWN_HOST, 'ConnectionFailed'],
  [VIR_ERR.RPC, 'ConnectionFailed'],
  [VIR_ERR.NO_SERVER, 'ConnectionFailed'],
  [VIR_ERR.AUTH_FAILED, 'AccessDenied'],
  [VIR_ERR.AUTH_CANCELLED, 'AccessDenied'],
  [VIR_ERR.AUTH_UNAVAILABLE, 'AccessDenied'],
  [VIR_ERR.OPERATION_DENIED, 'AccessDenied'],
  [VIR_ERR.ACCESS_DENIED, 'AccessDenied'],
  [VIR_ERR.XML_ERROR, 'InvalidXml'],
  [VIR_ERR.XML_DETAIL, 'InvalidXml'],
  [VIR_ERR.XML_INVALID_SCHEMA, 'InvalidXml'],
  [VIR_ERR.INVALID_ARG, 'InvalidArgument'],
  [VIR_ERR.NO_SUPPORT, 'NotSupported'],
  [VIR_ERR.CONFIG_UNSUPPORTED, 'NotSupported'],
  [VIR_ERR.ARGUMENT_UNSUPPORTED, 'NotSupported'],
  [VIR_ERR.OPERATION_UNSUPPORTED, 'NotSupported'],
  [VIR_ERR.INTERNAL_ERROR, 'Internal'],
  [VIR_ERR.NO_MEMORY, 'Internal'],
]);

/** Maps a virErrorNumber to Strato's kind. Unknown codes are 'Other'. */
export function kindOfLibvirtCode(code: number): LibvirtErrorKind {
  return KIND_BY_CODE.get(code) ?? 'Other';
}

/** Transient failures worth retrying with backoff; the rest will fail the same way again. */
const RETRYABLE: ReadonlySet<LibvirtErrorKind> = new Set(['ConnectionFailed', 'Timeout']);

export class LibvirtError extends Error {
  readonly kind: LibvirtErrorKind;
  /** virErrorNumber (-1 when the failure came from the binding rather than from libvirt). */
  readonly code: number;
  /** virErrorDomain: which part of libvirt raised it (12 = test driver, 10 = QEMU...). */
  readonly domain: number;
  readonly retryable: boolean;

  constructor(raw: RawLibvirtError, options: { kind?: LibvirtErrorKind; operation?: string } = {}) {
    const detail = raw.message ?? `libvirt error ${raw.code}`;
    super(options.operation ? `${options.operation}: ${detail}` : detail);
    this.name = 'LibvirtError';
    this.kind = options.kind ?? (raw.code < 0 ? 'NativeFailure' : kindOfLibvirtCode(raw.code));
    this.code = raw.code;
    this.domain = raw.domain;
    this.retryable = RETRYABLE.has(this.kind);
  }
}

/** True for a LibvirtError of the given kind; works across package copies. */
export function isLibvirtError(err: unknown, kind?: LibvirtErrorKind): err is LibvirtError {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { name?: unknown; kind?: unknown };
  if (e.name !== 'LibvirtError' || typeof e.kind !== 'string') return false;
  return kind === undefined || e.kind === kind;
}

/**
 * Builds the error for a call that reported failure. `raw` is the thread's virError, or null
 * when libvirt failed without setting one (it should not, but the caller still failed).
 */
export function libvirtErrorFrom(raw: RawLibvirtError | null, operation: string): LibvirtError {
  return new LibvirtError(
    raw ?? { code: VIR_ERR.INTERNAL_ERROR, domain: 0, message: 'unknown libvirt error' },
    {
      operation,
    },
  );
}
