import { isSyncError, type RateLimitScope, SyncError, type SyncErrorCode } from '@syncfolio/core'
import { type CallTrace, type ExchangeDialect, parseJsonBody } from './exchangeDialect.js'

export interface ClassifyContext {
  exchangeId: string
  dialect: ExchangeDialect
  /** Status and headers of the last response, as the adapter's fetch saw them. */
  trace: CallTrace
  /** The last raw response body (`last_http_response`). */
  body: unknown
  signal: AbortSignal | undefined
  /** Credential values that must not appear in any message. */
  secrets: readonly string[]
  /** Now, epoch ms, for waits the exchange gives as a time. @default Date.now() */
  now?: number
  /** Until when a recent rate limit paused the whole exchange, epoch ms (what the adapter saw last). */
  exchangePausedUntil?: number
}

/**
 * ccxt error names, most specific first, with what they mean for a sync. ccxt errors are told apart by name
 * (and their class lineage's names), never with instanceof: two copies of ccxt (ESM and CJS) have two sets of
 * classes.
 */
const BY_NAME: ReadonlyArray<[name: string, code: SyncErrorCode, what: string]> = [
  ['AccountSuspended', 'ACCOUNT_SUSPENDED', 'the account is suspended'],
  ['AccountNotEnabled', 'PERMISSION_DENIED', 'the account is not enabled for this'],
  ['PermissionDenied', 'PERMISSION_DENIED', 'the API key lacks a permission'],
  ['AuthenticationError', 'AUTH_FAILED', 'the credentials were rejected'],
  ['RateLimitExceeded', 'RATE_LIMITED', 'the rate limit is exceeded'],
  ['DDoSProtection', 'RATE_LIMITED', 'the exchange throttled the request'],
  ['OnMaintenance', 'EXCHANGE_UNAVAILABLE', 'the exchange is under maintenance'],
  ['ExchangeNotAvailable', 'EXCHANGE_UNAVAILABLE', 'the exchange is not available'],
  ['RequestTimeout', 'TIMEOUT', 'the request timed out'],
  ['InvalidNonce', 'UNKNOWN', "the request timestamp was refused (is this host's clock off?)"],
  ['BadResponse', 'INVALID_RESPONSE', 'the exchange sent a response that could not be read'],
  ['NullResponse', 'INVALID_RESPONSE', 'the exchange sent an empty response'],
  ['NetworkError', 'NETWORK', 'the connection failed'],
]

const MAX_DETAIL = 240

/**
 * What went wrong in a ccxt call, as a SyncError whose message names the exchange and never holds a credential.
 * The exchange's own error code decides first (Binance `-2015`, OKX `50011`...), then the HTTP status, then the
 * ccxt error's name; Retry-After becomes `retryAfterMs`.
 */
export function classifyCcxtError(error: unknown, context: ClassifyContext): SyncError {
  const { exchangeId, dialect, trace, body, signal, secrets } = context
  const now = context.now ?? Date.now()
  if (signal?.aborted) {
    if (isSyncError(signal.reason)) return signal.reason
    return new SyncError('TIMEOUT', `${exchangeId}: the request was aborted before the exchange answered.`, {
      cause: safeCause(error, secrets),
    })
  }
  if (isSyncError(error)) return error

  const cause = safeCause(error, secrets)
  const status = trace.status
  const retryAfterMs =
    parseRetryAfter(trace.headers?.get('retry-after') ?? undefined, now) ??
    (status === undefined ? undefined : dialect.retryAfterFromBody?.(body, now))
  const exchangeCode = status === undefined ? undefined : dialect.errorCode(body)
  const make = (code: SyncErrorCode, what: string, scope?: RateLimitScope, defaultRetryAfterMs?: number) => {
    const detail = describeResponse(status, exchangeCode, body, secrets) ?? describeError(error, secrets)
    const message = `${exchangeId}: ${what}.${detail ? ` ${detail}` : ''}`
    if (code === 'RATE_LIMITED') {
      return new SyncError(code, message, {
        cause,
        scope: scope ?? dialect.statusLimitScope,
        retryAfterMs: retryAfterMs ?? defaultRetryAfterMs,
      })
    }
    // Refused for every key of this server alike: pause the exchange, fail no connection.
    if (scope === 'exchange') return new SyncError(code, message, { cause, scope, retryAfterMs: defaultRetryAfterMs })
    return new SyncError(code, message, { cause })
  }

  const pausedForMs = (context.exchangePausedUntil ?? 0) - now
  const whilePaused =
    exchangeCode !== undefined && pausedForMs > 0 ? dialect.meaningWhilePaused?.(exchangeCode) : undefined
  if (whilePaused) return make(whilePaused.code, whilePaused.what, whilePaused.scope, pausedForMs)
  const meaning = exchangeCode === undefined ? undefined : dialect.meaning(exchangeCode)
  if (meaning) {
    const what = status === 418 ? 'the IP is banned for ignoring rate limits' : meaning.what
    return make(meaning.code, what, meaning.scope, meaning.defaultRetryAfterMs)
  }
  const statusMeaning = status === undefined ? undefined : dialect.statusMeaning?.(status)
  if (statusMeaning) {
    return make(statusMeaning.code, statusMeaning.what, statusMeaning.scope, statusMeaning.defaultRetryAfterMs)
  }
  if (status !== undefined && status >= 200 && status < 300 && !isJsonText(body)) {
    return make('INVALID_RESPONSE', `the exchange answered with ${contentKind(trace)} instead of JSON`)
  }
  if (status === 429 || status === 418) {
    return make(
      'RATE_LIMITED',
      status === 418 ? 'the IP is banned for ignoring rate limits' : 'the rate limit is exceeded',
      undefined,
      dialect.statusLimitRetryAfterMs,
    )
  }
  if (status === 401) return make('AUTH_FAILED', 'the credentials were rejected')
  if (status !== undefined && status >= 500)
    return make('EXCHANGE_UNAVAILABLE', `the exchange failed with HTTP ${status}`)

  const names = lineage(error)
  for (const [name, code, what] of BY_NAME) if (names.has(name)) return make(code, what)
  return make('UNKNOWN', 'the balance call failed')
}

/** The error's name and the names of its class lineage (`AccountSuspended` -> `AuthenticationError` -> ...). */
function lineage(error: unknown): Set<string> {
  const names = new Set<string>()
  if (typeof error !== 'object' || error === null) return names
  const own = (error as { name?: unknown }).name
  if (typeof own === 'string') names.add(own)
  for (
    let proto = Object.getPrototypeOf(error);
    proto && proto !== Object.prototype;
    proto = Object.getPrototypeOf(proto)
  ) {
    const name = (proto as { constructor?: { name?: unknown } }).constructor?.name
    if (typeof name === 'string' && name !== '') names.add(name)
  }
  return names
}

/** Seconds, or an HTTP date. */
export function parseRetryAfter(header: string | undefined, now = Date.now()): number | undefined {
  if (header === undefined || header.trim() === '') return undefined
  const value = header.trim()
  if (/^\d+(\.\d+)?$/.test(value)) return Math.round(Number(value) * 1000)
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

function describeResponse(
  status: number | undefined,
  code: string | undefined,
  body: unknown,
  secrets: readonly string[],
): string | undefined {
  if (status === undefined) return undefined
  const parsed = parseJsonBody(body)
  const text = typeof parsed?.msg === 'string' ? parsed.msg : typeof parsed?.message === 'string' ? parsed.message : ''
  const parts = [`HTTP ${status}`]
  if (code !== undefined) parts.push(`code ${code}`)
  const head = parts.join(', ')
  return text ? `${head}: ${clean(text, secrets)}` : head
}

function describeError(error: unknown, secrets: readonly string[]): string | undefined {
  if (!(error instanceof Error)) return error === undefined ? undefined : clean(String(error), secrets)
  return `${error.name}: ${clean(error.message, secrets)}`
}

/** A plain Error with the original's name and a cleaned message: no headers, URLs' queries or credentials. */
function safeCause(error: unknown, secrets: readonly string[]): Error | undefined {
  if (error === undefined) return undefined
  const copy = new Error(error instanceof Error ? clean(error.message, secrets) : clean(String(error), secrets))
  copy.name = error instanceof Error ? error.name : 'Error'
  return copy
}

/** Drops query strings (signatures, timestamps), every credential value, and cuts the length. */
export function clean(text: string, secrets: readonly string[]): string {
  let result = text.replace(/(https?:\/\/[^\s?#]+)\?\S*/g, '$1')
  for (const secret of secrets) if (secret.length >= 4) result = result.split(secret).join('[redacted]')
  result = result.replace(/\s+/g, ' ').trim()
  return result.length > MAX_DETAIL ? `${result.slice(0, MAX_DETAIL - 1)}…` : result
}

/** False only for a text body that does not start like JSON (HTML pages, plain text, empty). */
export function isJsonText(body: unknown): boolean {
  if (typeof body !== 'string') return true
  const text = body.trim()
  return text.startsWith('{') || text.startsWith('[')
}

function contentKind(trace: CallTrace): string {
  const type = trace.headers?.get('content-type')?.split(';')[0]?.trim()
  return type ? `a ${type} body` : 'a body'
}
