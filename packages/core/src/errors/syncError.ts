/** Codes a sync can fail with. Callers switch on these, never on message text. */
export const SYNC_ERROR_CODES = [
  'RATE_LIMITED',
  'AUTH_FAILED',
  'PERMISSION_DENIED',
  'ACCOUNT_SUSPENDED',
  'NETWORK',
  'TIMEOUT',
  'EXCHANGE_UNAVAILABLE',
  'INVALID_RESPONSE',
  'UNSUPPORTED_EXCHANGE',
  'CANCELLED',
  'UNKNOWN',
] as const

export type SyncErrorCode = (typeof SYNC_ERROR_CODES)[number]

/** Which rate-limit budget a RATE_LIMITED error is about: the whole exchange, or one account. */
export type RateLimitScope = 'exchange' | 'account'

/** The codes that mean the keys will not work until the user changes them. */
export const PERMANENT_ERROR_CODES: ReadonlySet<SyncErrorCode> = new Set([
  'AUTH_FAILED',
  'PERMISSION_DENIED',
  'ACCOUNT_SUSPENDED',
])

export interface SyncErrorOptions {
  /** With RATE_LIMITED: how long the exchange asked us to wait. */
  retryAfterMs?: number
  /** With RATE_LIMITED: which budget the limit is about. */
  scope?: RateLimitScope
  cause?: unknown
}

/**
 * Why a sync failed. Adapters throw it; the scheduler wraps anything else as `UNKNOWN`.
 * `AUTH_FAILED`, `PERMISSION_DENIED` and `ACCOUNT_SUSPENDED` are permanent: the connection is disabled until its
 * credentials change. Every other code is transient and retried with backoff. `CANCELLED` means the scheduler
 * stopped before or while the sync ran; it is never recorded against the connection.
 */
export class SyncError extends Error {
  override readonly name = 'SyncError'
  readonly code: SyncErrorCode
  readonly retryAfterMs: number | undefined
  readonly scope: RateLimitScope | undefined

  constructor(code: SyncErrorCode, message: string, options: SyncErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.retryAfterMs = options.retryAfterMs
    this.scope = options.scope
  }

  /** True when retrying with the same credentials cannot help. */
  get permanent(): boolean {
    return PERMANENT_ERROR_CODES.has(this.code)
  }
}

/** Duck-typed so that a SyncError from another copy of the package (or a worker) still counts. */
export function isSyncError(value: unknown): value is SyncError {
  return (
    value instanceof SyncError ||
    (value instanceof Error &&
      value.name === 'SyncError' &&
      SYNC_ERROR_CODES.includes((value as { code?: unknown }).code as SyncErrorCode))
  )
}

/** Anything an adapter throws, as a SyncError: SyncErrors pass through, the rest become `UNKNOWN` with `cause`. */
export function toSyncError(value: unknown): SyncError {
  if (isSyncError(value)) return value
  const message =
    value instanceof Error && typeof value.message === 'string'
      ? value.message
      : typeof value === 'string'
        ? value
        : 'a value that is not an Error was thrown'
  return new SyncError('UNKNOWN', `Adapter failed: ${message}`, { cause: value })
}
