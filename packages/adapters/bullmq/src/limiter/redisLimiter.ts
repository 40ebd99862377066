import type {
  ExchangeLimitStats,
  LimitDecision,
  LimitPermit,
  LimitRequest,
  LimitSettlement,
  LimitSettleResult,
  ResolvedLimits,
  SyncLimiter,
} from '@syncfolio/core'
import type { Redis } from 'ioredis'

export interface RedisLimiterOptions {
  /** A connected ioredis client; the limiter runs its scripts on it and never closes it. */
  redis: Redis
  /** Key prefix, shared with the queues. @default 'syncfolio' */
  prefix?: string
  /** The egress (outgoing IP) this process's requests leave from: exchange-scope budgets are kept per egress. @default 'default' */
  egress?: string
  /** Resolved limits per exchange (as the core's `resolveLimits` gives them). */
  limits: ReadonlyMap<string, ResolvedLimits>
  /** First pause after a RATE_LIMITED error without Retry-After; doubles with each in a row. @default 5_000 */
  rateLimitBackoffMs?: number
  /** Longest such pause. @default 300_000 */
  maxRateLimitBackoffMs?: number
}

/**
 * Budgets shared in Redis by every worker: the same semantics as the core's in-process `BudgetLimiter`, with one
 * atomic acquire across every scope of the exchange that charges nothing when it refuses.
 */
export class RedisLimiter implements SyncLimiter {
  constructor(options: RedisLimiterOptions) {
    void options
    throw new Error('RedisLimiter: not built yet')
  }

  acquire(request: LimitRequest): Promise<LimitDecision> {
    void request
    throw new Error('RedisLimiter: not built yet')
  }

  settle(permit: LimitPermit, settlement: LimitSettlement): Promise<LimitSettleResult | undefined> {
    void permit
    void settlement
    throw new Error('RedisLimiter: not built yet')
  }

  stats(exchange: string, now: number): ExchangeLimitStats {
    void exchange
    void now
    throw new Error('RedisLimiter: not built yet')
  }
}
