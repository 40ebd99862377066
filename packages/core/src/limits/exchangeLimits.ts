/** A weighted sliding window: at most `limit` weight in any `windowMs`. */
export interface Budget {
  /** `exchange`: one budget shared by every connection of the exchange (Binance counts per IP); `account`: one per connection. */
  scope: 'exchange' | 'account'
  limit: number
  windowMs: number
  /**
   * `sliding`: never more than `limit` in any `windowMs`. `clock`: at most `limit` in each window aligned to the
   * clock, as the exchange counts it (Binance's `X-MBX-USED-WEIGHT-1M`); weight the exchange reports beyond our own
   * is learned, and its share of the window kept free. @default 'sliding' (binance's built-in budget: 'clock')
   */
  align?: 'clock' | 'sliding'
}

/** Per-exchange limits, merged over the built-in defaults. */
export interface ExchangeLimits {
  /** Weight one balance sync costs against the exchange's budgets. @default the built-in default, else 1 */
  cost?: number
  /** Weighted sliding windows; `[]` means none. @default the built-in default, else 60 per minute per exchange */
  budgets?: Budget[]
  /** Most syncs of this exchange in flight at once. @default only the global cap */
  concurrency?: number
}

export interface ResolvedLimits {
  cost: number
  budgets: Budget[]
  concurrency: number
}

/**
 * Built-in limits for the balance call of exchanges whose published limits we know.
 *
 * - binance: `GET /api/v3/account` costs 20 request weight, and the spot API allows 6,000 weight per minute per IP
 *   (Binance Spot API docs, "General API Information" and "Account information (USER_DATA)"; the `REQUEST_WEIGHT`
 *   rate limit in `GET /api/v3/exchangeInfo`). So one server can sync about 300 Binance accounts a minute.
 * - okx: `GET /api/v5/account/balance` allows 10 requests per 2 seconds, counted per user ID (OKX API v5 docs,
 *   "Get balance", rate limit rule: User ID).
 */
export const DEFAULT_LIMITS: Readonly<Record<string, ResolvedLimits>> = {
  binance: {
    cost: 20,
    budgets: [{ scope: 'exchange', limit: 6_000, windowMs: 60_000, align: 'clock' }],
    concurrency: Number.POSITIVE_INFINITY,
  },
  okx: {
    cost: 1,
    budgets: [{ scope: 'account', limit: 10, windowMs: 2_000 }],
    concurrency: Number.POSITIVE_INFINITY,
  },
}

/**
 * For an exchange with no built-in limits and none given: one balance call per second for the whole exchange,
 * which stays under every spot exchange's published IP limit that we know of. Set `limits[exchange]` to go faster.
 */
export const FALLBACK_LIMITS: Readonly<ResolvedLimits> = {
  cost: 1,
  budgets: [{ scope: 'exchange', limit: 60, windowMs: 60_000 }],
  concurrency: Number.POSITIVE_INFINITY,
}

/** The user's limits for one exchange, field by field over the built-in default (or the fallback). */
export function resolveLimits(exchange: string, given: ExchangeLimits | undefined): ResolvedLimits {
  const base = DEFAULT_LIMITS[exchange] ?? FALLBACK_LIMITS
  return {
    cost: given?.cost ?? base.cost,
    budgets: (given?.budgets ?? base.budgets).map((budget) => ({ ...budget })),
    concurrency: given?.concurrency ?? base.concurrency,
  }
}

/** True when neither a built-in default nor the user's options say anything about this exchange's budgets. */
export function usesFallbackLimits(exchange: string, given: ExchangeLimits | undefined): boolean {
  return DEFAULT_LIMITS[exchange] === undefined && given?.budgets === undefined
}
