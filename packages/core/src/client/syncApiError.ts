import type { ApiIssue } from './contract.js'

/** Codes the client itself raises, beside the server's `API_ERROR_CODES`. */
export type ClientErrorCode =
  /** The request never got an answer (offline, DNS, CORS, connection reset). `status` is 0. */
  | 'NETWORK'
  /** The answer did not match the contract (a proxy's HTML page, an incompatible server version). */
  | 'INVALID_RESPONSE'
  /** A non-2xx answer without a syncfolio error body. */
  | 'HTTP_ERROR'

export interface SyncApiErrorOptions {
  issues?: ApiIssue[]
  reason?: string
  retryAfterMs?: number
  cause?: unknown
}

/**
 * A failed call of the syncfolio HTTP API. `code` is the server's error code (`UNAUTHORIZED`, `NOT_FOUND`,
 * `VALIDATION_FAILED`, `SYNC_THROTTLED`...) or one of the client's own (`NETWORK`, `INVALID_RESPONSE`,
 * `HTTP_ERROR`). Switch on `code`, never on the message.
 */
export class SyncApiError extends Error {
  override readonly name = 'SyncApiError'
  /** HTTP status, or 0 when there was no answer. */
  readonly status: number
  readonly code: string
  /** With VALIDATION_FAILED: what was wrong, and where. */
  readonly issues: ApiIssue[] | undefined
  /** With CREDENTIALS_REJECTED and EXCHANGE_ERROR: the SyncError code behind it. */
  readonly reason: string | undefined
  /** With SYNC_THROTTLED: how long to wait before asking again. */
  readonly retryAfterMs: number | undefined

  constructor(status: number, code: string, message: string, options: SyncApiErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.status = status
    this.code = code
    this.issues = options.issues
    this.reason = options.reason
    this.retryAfterMs = options.retryAfterMs
  }
}

/** Duck-typed so that an error from another copy of the package still counts. */
export function isSyncApiError(value: unknown): value is SyncApiError {
  return value instanceof SyncApiError || (value instanceof Error && value.name === 'SyncApiError')
}
