import type { ResolvedLimits } from './exchangeLimits.js'
import { SlidingWindow } from './slidingWindow.js'
import type {
  ExchangeLimitStats,
  LimitDecision,
  LimitPermit,
  LimitRequest,
  LimitSettlement,
  LimitSettleResult,
  SyncLimiter,
} from './syncLimiter.js'

interface Pause {
  until: number
  /** Rate-limit errors in a row without a Retry-After, for the backoff. */
  strikes: number
}

export interface BudgetLimiterOptions {
  /** First pause after a RATE_LIMITED error that gave no Retry-After; doubles with each one in a row. @default 5_000 */
  rateLimitBackoffMs?: number
  /** Longest such pause. @default 300_000 */
  maxRateLimitBackoffMs?: number
}

/**
 * Weighted sliding-window budgets, in process. An `exchange` budget is one window shared by every connection of the
 * exchange; an `account` budget is a window per connection. A grant spends the sync's `cost` in every budget of the
 * exchange at once; a RATE_LIMITED settlement pauses the scope it names; a reported `usedWeight` raises the
 * exchange-scope count to the exchange's own.
 */
export class BudgetLimiter implements SyncLimiter {
  readonly #limits: ReadonlyMap<string, ResolvedLimits>
  readonly #backoffMs: number
  readonly #maxBackoffMs: number
  readonly #windows = new Map<string, SlidingWindow>()
  readonly #pauses = new Map<string, Pause>()
  #pruneAt = 1_024

  constructor(limits: ReadonlyMap<string, ResolvedLimits>, options: BudgetLimiterOptions = {}) {
    this.#limits = limits
    this.#backoffMs = options.rateLimitBackoffMs ?? 5_000
    this.#maxBackoffMs = options.maxRateLimitBackoffMs ?? 300_000
  }

  acquire({ exchange, connectionId, now }: LimitRequest): LimitDecision {
    const limits = this.#limits.get(exchange)
    const permit: LimitPermit = { exchange, connectionId }
    if (!limits) return { granted: true, permit }
    const exchangePause = this.#pauses.get(exchange)
    if (exchangePause && exchangePause.until > now) {
      return { granted: false, retryAt: exchangePause.until, scope: 'exchange', reason: 'retry-after' }
    }
    const accountPause = this.#pauses.get(accountKey(exchange, connectionId))
    if (accountPause && accountPause.until > now) {
      return { granted: false, retryAt: accountPause.until, scope: 'account', reason: 'retry-after' }
    }
    const windows = limits.budgets.map((budget, index) => this.#window(exchange, connectionId, budget.scope, index))
    let retryAt = now
    let scope: 'exchange' | 'account' = 'exchange'
    for (const [index, budget] of limits.budgets.entries()) {
      const fits = (windows[index] as SlidingWindow).fitsAt(now, limits.cost, budget.limit)
      if (fits > retryAt) {
        retryAt = fits
        scope = budget.scope
      }
    }
    if (retryAt > now) return { granted: false, retryAt, scope, reason: 'budget' }
    for (const window of windows) window.add(now, limits.cost)
    if (this.#windows.size > this.#pruneAt) this.#prune(now)
    return { granted: true, permit }
  }

  settle({ exchange, connectionId }: LimitPermit, settlement: LimitSettlement): LimitSettleResult | undefined {
    const limits = this.#limits.get(exchange)
    if (!limits) return undefined
    const { now } = settlement
    if (settlement.usedWeight !== undefined) {
      for (const [index, budget] of limits.budgets.entries()) {
        if (budget.scope === 'exchange')
          this.#window(exchange, connectionId, 'exchange', index).alignTo(now, settlement.usedWeight)
      }
    }
    if (settlement.result === 'rate-limited') {
      const key = settlement.scope === 'account' ? accountKey(exchange, connectionId) : exchange
      const pause = this.#pauses.get(key) ?? { until: 0, strikes: 0 }
      pause.strikes++
      const waitMs =
        settlement.retryAfterMs ?? Math.min(this.#maxBackoffMs, this.#backoffMs * 2 ** Math.min(pause.strikes - 1, 20))
      pause.until = Math.max(pause.until, now + waitMs)
      this.#pauses.set(key, pause)
      if (this.#pauses.size > this.#pruneAt) this.#prune(now)
      return { pausedUntil: pause.until }
    }
    if (settlement.result === 'ok') {
      for (const key of [exchange, accountKey(exchange, connectionId)]) {
        const pause = this.#pauses.get(key)
        if (pause && pause.until <= now) this.#pauses.delete(key)
      }
    }
    return undefined
  }

  stats(exchange: string, now: number): ExchangeLimitStats {
    const limits = this.#limits.get(exchange)
    let budgetLeft: number | null = null
    for (const [index, budget] of (limits?.budgets ?? []).entries()) {
      if (budget.scope !== 'exchange') continue
      const left = budget.limit - this.#window(exchange, '', 'exchange', index).used(now)
      budgetLeft = budgetLeft === null ? left : Math.min(budgetLeft, left)
    }
    const pause = this.#pauses.get(exchange)
    let pausedAccounts = 0
    const prefix = `${exchange}\u0000`
    for (const [key, accountPause] of this.#pauses)
      if (key.startsWith(prefix) && accountPause.until > now) pausedAccounts++
    return { budgetLeft, pausedUntil: pause && pause.until > now ? pause.until : null, pausedAccounts }
  }

  /** Windows and pauses held in memory; it follows the accounts in use, not every account ever seen. */
  retained(): number {
    return this.#windows.size + this.#pauses.size
  }

  #window(exchange: string, connectionId: string, scope: 'exchange' | 'account', index: number): SlidingWindow {
    const key = scope === 'exchange' ? `${exchange}#${index}` : `${accountKey(exchange, connectionId)}#${index}`
    let window = this.#windows.get(key)
    if (!window) {
      const budget = (this.#limits.get(exchange) as ResolvedLimits).budgets[index] as { windowMs: number }
      window = new SlidingWindow(budget.windowMs)
      this.#windows.set(key, window)
    }
    return window
  }

  /** Forgets account windows and pauses that hold nothing any more, so memory follows the accounts in use. */
  #prune(now: number): void {
    for (const [key, window] of this.#windows)
      if (key.includes('\u0000') && window.isEmpty(now)) this.#windows.delete(key)
    // A pause long over, by more than the longest backoff, no longer says anything about the next one.
    for (const [key, pause] of this.#pauses) if (pause.until + this.#maxBackoffMs <= now) this.#pauses.delete(key)
    this.#pruneAt = Math.max(1_024, this.#windows.size * 2, this.#pauses.size * 2)
  }
}

function accountKey(exchange: string, connectionId: string): string {
  return `${exchange}\u0000${connectionId}`
}
