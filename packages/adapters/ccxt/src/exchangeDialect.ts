import { type Balance, type RateLimitScope, SyncError, type SyncErrorCode, sumDecimals } from '@syncfolio/core'
import type { CcxtInstance } from './ccxtInstance.js'

/** What the adapter saw of the last HTTP exchange of one call, captured by its fetch. */
export interface CallTrace {
  status: number | undefined
  headers: Headers | undefined
}

/** How an exchange error code translates. */
export interface CodeMeaning {
  code: SyncErrorCode
  /** Words for the message, e.g. `the API key was rejected`. */
  what: string
  /**
   * With RATE_LIMITED: the scope to pause. With another code, `exchange` pauses the whole exchange for
   * `defaultRetryAfterMs` (the server's IP is refused for every key) instead of failing the connection.
   */
  scope?: RateLimitScope
  /** With RATE_LIMITED, when the exchange sends no Retry-After but its limit has a known window; the pause of an exchange-scope error. */
  defaultRetryAfterMs?: number
}

/** What differs between exchanges: the call, the parse, and the exchange's own error codes. */
export interface ExchangeDialect {
  /** Whether instances need the exchange's markets before a balance call (shared from one template instance). */
  readonly needsMarkets: boolean
  /** The balance call; one HTTP request. */
  fetch(instance: CcxtInstance): Promise<unknown>
  /** The response as balances with exact decimal strings; throws INVALID_RESPONSE when it is not the expected shape. */
  parse(response: unknown, instance: CcxtInstance): Balance[]
  /** The exchange's error code in a response body, if any. */
  errorCode(body: unknown): string | undefined
  /** The meaning of an exchange error code, if the dialect knows it. */
  meaning(code: string): CodeMeaning | undefined
  /** Scope of a rate limit the exchange signalled with an HTTP status (429, 418) and no known code. */
  readonly statusLimitScope: RateLimitScope
  /** Wait after such a status-only rate limit when no Retry-After came with it. @default none */
  readonly statusLimitRetryAfterMs?: number
  /** The meaning of an HTTP status the exchange uses in a way of its own (Binance 403 WAF, 451), when no code decided. */
  statusMeaning?(status: number): CodeMeaning | undefined
  /** A wait the exchange writes in the body when it sends no Retry-After (Binance 418: "IP banned until <ms>"). */
  retryAfterFromBody?(body: unknown, now: number): number | undefined
  /** What a code means while this exchange is paused by a recent rate limit (Binance sends -2015 during a ban). */
  meaningWhilePaused?(code: string): CodeMeaning | undefined
  /**
   * The exchange's own id of the account the credentials belong to (OKX `uid`), for the account budget; one request
   * with the call's keys. Absent on exchanges that count account limits per key.
   */
  accountId?(instance: CcxtInstance): Promise<string | undefined>
  /** The exchange's own count of used rate-limit weight after the call. */
  usedWeight(trace: CallTrace): number | undefined
}

/** Parses a JSON text into an object, or undefined. */
export function parseJsonBody(body: unknown): Record<string, unknown> | undefined {
  if (typeof body === 'object' && body !== null) return body as Record<string, unknown>
  if (typeof body !== 'string') return undefined
  const text = body.trim()
  if (!text.startsWith('{')) return undefined
  try {
    const parsed: unknown = JSON.parse(text)
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

/** The response is not the JSON the exchange documents. */
export function invalidResponse(exchangeId: string, problem: string): SyncError {
  return new SyncError('INVALID_RESPONSE', `${exchangeId}: unexpected balance response: ${problem}.`)
}

/** Adds a balance, summing exactly when two raw currency ids map to one unified code. */
export function pushBalance(balances: Map<string, Balance>, balance: Balance): void {
  const known = balances.get(balance.asset)
  if (!known) {
    balances.set(balance.asset, balance)
    return
  }
  balances.set(balance.asset, {
    asset: balance.asset,
    free: sumDecimals([known.free, balance.free]),
    used: sumDecimals([known.used, balance.used]),
    total: sumDecimals([known.total, balance.total]),
  })
}
