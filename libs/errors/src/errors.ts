/**
 * One error model for the whole system. Domain code throws these (never HTTP errors); each
 * API maps `kind` to its own fault body once, in its error middleware. Across the bus an
 * error travels as {kind, message, retryable}; match on `kind`, never on `instanceof`.
 */
export const ERROR_KINDS = [
  'Invalid',
  'Unauthorized',
  'Forbidden',
  'NotFound',
  'MethodNotAllowed',
  'Conflict',
  'PayloadTooLarge',
  'UnsupportedMediaType',
  'QuotaExceeded',
  'RangeNotSatisfiable',
  'PreconditionFailed',
  'NotImplemented',
  'Unavailable',
  'Timeout',
  'Internal',
] as const;

export type ErrorKind = (typeof ERROR_KINDS)[number];

export interface WireError {
  kind: ErrorKind;
  message: string;
  retryable: boolean;
}

const RETRYABLE_BY_DEFAULT: ReadonlySet<ErrorKind> = new Set(['Unavailable', 'Timeout']);

export class AppError extends Error {
  readonly kind: ErrorKind;
  readonly retryable: boolean;

  constructor(kind: ErrorKind, message: string, options: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = kind;
    this.kind = kind;
    this.retryable = options.retryable ?? RETRYABLE_BY_DEFAULT.has(kind);
  }

  toWire(): WireError {
    return { kind: this.kind, message: this.message, retryable: this.retryable };
  }
}

export const invalid = (message: string) => new AppError('Invalid', message);
export const unauthorized = (message = 'The request you have made requires authentication.') =>
  new AppError('Unauthorized', message);
export const forbidden = (message = 'You are not authorized to perform the requested action.') =>
  new AppError('Forbidden', message);
export const notFound = (message: string) => new AppError('NotFound', message);
export const conflict = (message: string) => new AppError('Conflict', message);
export const unavailable = (message: string) => new AppError('Unavailable', message);

/** True for anything that carries one of our error kinds (works across package copies). */
export function isAppError(err: unknown): err is AppError {
  return (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as { kind?: unknown }).kind === 'string' &&
    (ERROR_KINDS as readonly string[]).includes((err as { kind: string }).kind) &&
    typeof (err as { message?: unknown }).message === 'string'
  );
}

/** Any thrown value as an AppError; unknown failures become Internal (message kept for logs). */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (isAppError(err)) {
    return new AppError(err.kind, err.message, { retryable: (err as { retryable?: boolean }).retryable });
  }
  // Express could not percent-decode a path parameter (`/servers/%ZZ`): the path names no
  // resource, as Nova and Glance answer for an id they cannot find.
  if (err instanceof URIError && (err as { status?: unknown }).status === 400) {
    return new AppError('NotFound', 'The resource could not be found.');
  }
  const message = err instanceof Error ? err.message : String(err);
  return new AppError('Internal', message, { cause: err });
}

export function fromWire(wire: WireError): AppError {
  return new AppError(wire.kind, wire.message, { retryable: wire.retryable });
}
