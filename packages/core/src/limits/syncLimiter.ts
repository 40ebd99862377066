/**
 * The dispatcher asks a SyncLimiter before it starts each sync, and tells it how the sync ended. This is the seam
 * where rate-limit budgets plug in: an in-process limiter, or a shared one (Redis) for several processes.
 */
export interface SyncLimiter {
  /** May a sync of this connection start now? A grant reserves its cost until `settle`. */
  acquire(request: LimitRequest): LimitDecision
  /** Reports how a granted sync ended, so the limiter can re-align its count or pause a scope. */
  settle(permit: LimitPermit, settlement: LimitSettlement): void
  /** Budget left and pause for one exchange, for `SyncScheduler.stats()`. */
  stats(exchange: string, now: number): ExchangeLimitStats
}

export interface LimitRequest {
  exchange: string
  connectionId: string
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
  ok: boolean
  /** The exchange's own count after this call, when the adapter reported it. */
  usedWeight?: number
  /** From a RATE_LIMITED error. */
  retryAfterMs?: number
  scope?: 'exchange' | 'account'
}

export interface ExchangeLimitStats {
  /** Weight left in the tightest budget now, or null when the exchange has no budget. */
  budgetLeft: number | null
  /** Epoch ms until which the exchange is paused, or null. */
  pausedUntil: number | null
}

/** Grants everything: concurrency caps still apply, budgets do not. */
export const unlimited: SyncLimiter = {
  acquire: ({ exchange, connectionId }) => ({ granted: true, permit: { exchange, connectionId } }),
  settle: () => {},
  stats: () => ({ budgetLeft: null, pausedUntil: null }),
}
