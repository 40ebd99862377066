/**
 * The dispatcher asks a SyncLimiter before it starts each sync, and tells it how the sync ended. This is the seam
 * where rate-limit budgets plug in: an in-process limiter, or a shared one (Redis) for several processes.
 */
export interface SyncLimiter {
  /**
   * May a sync of this connection start now? A grant reserves its cost until `settle`. May answer synchronously
   * (in process) or with a promise (a shared store such as Redis); the dispatcher holds no slot while it waits.
   */
  acquire(request: LimitRequest): LimitDecision | Promise<LimitDecision>
  /** Reports how a granted sync ended, so the limiter can re-align its count or pause a scope. */
  settle(
    permit: LimitPermit,
    settlement: LimitSettlement,
  ): LimitSettleResult | undefined | Promise<LimitSettleResult | undefined>
  /** Budget left and pause for one exchange, for `SyncScheduler.stats()`. */
  stats(exchange: string, now: number): ExchangeLimitStats
}

export interface LimitRequest {
  exchange: string
  connectionId: string
  /** The exchange's own account id, once an adapter reported it: account-scope budgets are kept per account. */
  account?: string
  now: number
}

export type LimitDecision =
  | { granted: true; permit: LimitPermit }
  | {
      granted: false
      /** Epoch ms at which asking again may succeed. */
      retryAt: number
      /** `exchange` blocks every connection of the exchange; `account` only this one. */
      scope: 'exchange' | 'account'
      /** `retry-after` when the exchange asked for the pause, `budget` when the local count is spent. */
      reason: 'budget' | 'retry-after'
    }

/** Opaque to the dispatcher: whatever the limiter needs to settle a grant. */
export interface LimitPermit {
  readonly exchange: string
  readonly connectionId: string
}

export interface LimitSettlement {
  now: number
  /** `rate-limited` for a RATE_LIMITED error, `failed` for any other failure. */
  result: 'ok' | 'rate-limited' | 'failed'
  /** The exchange's own count after this call, when the adapter reported it. */
  usedWeight?: number
  /** With `rate-limited`: how long the exchange asked us to wait, when it said. */
  retryAfterMs?: number
  /** With `rate-limited`: which budget the exchange refused. @default 'exchange' */
  scope?: 'exchange' | 'account'
}

export interface LimitSettleResult {
  /** Set when the settlement paused a scope: until when. */
  pausedUntil?: number
}

export interface ExchangeLimitStats {
  /** Weight left now in the tightest exchange-scope budget, or null when the exchange has none. */
  budgetLeft: number | null
  /** Epoch ms until which the whole exchange is paused by a Retry-After or rate-limit backoff, or null. */
  pausedUntil: number | null
  /** Accounts of this exchange paused on their own (account scope). */
  pausedAccounts: number
}

/** Grants everything: concurrency caps still apply, budgets do not. */
export const unlimited: SyncLimiter = {
  acquire: ({ exchange, connectionId }) => ({ granted: true, permit: { exchange, connectionId } }),
  settle: () => undefined,
  stats: () => ({ budgetLeft: null, pausedUntil: null, pausedAccounts: 0 }),
}
