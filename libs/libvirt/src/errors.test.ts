import { LibvirtError, VIR_ERR, isLibvirtError, kindOfLibvirtCode, libvirtErrorFrom } from './errors';

describe('kindOfLibvirtCode', () => {
  it.each([
    [VIR_ERR.NO_DOMAIN, 'NoDomain'],
    [VIR_ERR.DOM_EXIST, 'DomainExists'],
    [VIR_ERR.OPERATION_INVALID, 'OperationInvalid'],
    [VIR_ERR.OPERATION_FAILED, 'OperationFailed'],
    [VIR_ERR.OPERATION_TIMEOUT, 'Timeout'],
    [VIR_ERR.NO_CONNECT, 'ConnectionFailed'],
    [VIR_ERR.RPC, 'ConnectionFailed'],
    [VIR_ERR.AUTH_FAILED, 'AccessDenied'],
    [VIR_ERR.OPERATION_DENIED, 'AccessDenied'],
    [VIR_ERR.XML_ERROR, 'InvalidXml'],
    [VIR_ERR.XML_DETAIL, 'InvalidXml'],
    [VIR_ERR.INVALID_ARG, 'InvalidArgument'],
    [VIR_ERR.NO_SUPPORT, 'NotSupported'],
    [VIR_ERR.CONFIG_UNSUPPORTED, 'NotSupported'],
    [VIR_ERR.OPERATION_UNSUPPORTED, 'NotSupported'],
    [VIR_ERR.INTERNAL_ERROR, 'Internal'],
  ])('maps virErrorNumber %i to %s', (code, kind) => {
    expect(kindOfLibvirtCode(code)).toBe(kind);
  });

  it('maps VIR_ERR_NO_DOMAIN to the literal 42', () => {
    expect(VIR_ERR.NO_DOMAIN).toBe(42);
  });

  it('maps codes it does not know to Other', () => {
    expect(kindOfLibvirtCode(9999)).toBe('Other');
  });
});

describe('LibvirtError', () => {
  it('carries code, domain, kind and the libvirt message prefixed by the operation', () => {
    const err = new LibvirtError(
      { code: 42, domain: 12, message: 'Domain not found' },
      { operation: 'look up x' },
    );
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ name: 'LibvirtError', kind: 'NoDomain', code: 42, domain: 12 });
    expect(err.message).toBe('look up x: Domain not found');
  });

  it('marks connection failures and timeouts retryable and nothing else', () => {
    expect(new LibvirtError({ code: VIR_ERR.RPC, domain: 7, message: 'x' }).retryable).toBe(true);
    expect(new LibvirtError({ code: VIR_ERR.OPERATION_TIMEOUT, domain: 10, message: 'x' }).retryable).toBe(
      true,
    );
    expect(new LibvirtError({ code: VIR_ERR.NO_DOMAIN, domain: 10, message: 'x' }).retryable).toBe(false);
  });

  it('uses NativeFailure for failures of the binding itself (negative code)', () => {
    expect(new LibvirtError({ code: -1, domain: 0, message: 'thread died' }).kind).toBe('NativeFailure');
  });

  it('lets the caller force a kind', () => {
    expect(new LibvirtError({ code: 38, domain: 7, message: 'x' }, { kind: 'ConnectionFailed' }).kind).toBe(
      'ConnectionFailed',
    );
  });

  it('falls back to the code in the message when libvirt gave none', () => {
    expect(new LibvirtError({ code: 9, domain: 10, message: null }).message).toBe('libvirt error 9');
  });
});

describe('libvirtErrorFrom', () => {
  it('reports an Internal error when a call failed without setting one', () => {
    const err = libvirtErrorFrom(null, 'start domain x');
    expect(err.kind).toBe('Internal');
    expect(err.message).toMatch(/^start domain x: /);
  });
});

describe('isLibvirtError', () => {
  it('recognises errors by name and kind, across package copies', () => {
    const foreign = Object.assign(new Error('x'), { name: 'LibvirtError', kind: 'NoDomain' });
    expect(isLibvirtError(foreign)).toBe(true);
    expect(isLibvirtError(foreign, 'NoDomain')).toBe(true);
    expect(isLibvirtError(foreign, 'OperationInvalid')).toBe(false);
  });

  it('rejects other values', () => {
    expect(isLibvirtError(new Error('x'))).toBe(false);
    expect(isLibvirtError(null)).toBe(false);
    expect(isLibvirtError('LibvirtError')).toBe(false);
  });
});
