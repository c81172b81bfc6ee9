// The engine's only error vocabulary. Subsystems throw these; only api/ turns them into Docker's
// `{"message": …}` responses, using the status each kind carries.

export type ErrorKind =
  | 'InvalidParameter'
  | 'NotFound'
  | 'Conflict'
  | 'Forbidden'
  | 'NotModified'
  | 'Unavailable'
  | 'NotImplemented'
  | 'System';

const statusOf: Record<ErrorKind, number> = {
  InvalidParameter: 400,
  Forbidden: 403,
  NotFound: 404,
  Conflict: 409,
  NotModified: 304,
  System: 500,
  NotImplemented: 501,
  Unavailable: 503,
};

export class EngineError extends Error {
  readonly kind: ErrorKind;
  readonly status: number;
  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = `${kind}Error`;
    this.kind = kind;
    this.status = statusOf[kind];
  }
}

export const invalidParameter = (message: string, cause?: unknown) =>
  new EngineError('InvalidParameter', message, { cause });
export const notFound = (message: string, cause?: unknown) => new EngineError('NotFound', message, { cause });
export const conflict = (message: string, cause?: unknown) => new EngineError('Conflict', message, { cause });
export const forbidden = (message: string, cause?: unknown) => new EngineError('Forbidden', message, { cause });
export const notModified = (message = '') => new EngineError('NotModified', message);
export const unavailable = (message: string, cause?: unknown) => new EngineError('Unavailable', message, { cause });
export const notImplemented = (message: string, cause?: unknown) =>
  new EngineError('NotImplemented', message, { cause });
export const system = (message: string, cause?: unknown) => new EngineError('System', message, { cause });

export function isEngineError(err: unknown, kind?: ErrorKind): err is EngineError {
  return err instanceof EngineError && (kind === undefined || err.kind === kind);
}

/** Any thrown value as an EngineError; unknown errors become System errors with their message. */
export function toEngineError(err: unknown): EngineError {
  if (err instanceof EngineError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return system(message, err);
}
