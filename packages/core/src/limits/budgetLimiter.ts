import { type AlignedGrant, AlignedWindow } from './alignedWindow.js'
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

type Window = SlidingWindow | AlignedWindow

/** What a grant of the BudgetLimiter remembers until it is settled. */
interface BudgetPermit extends LimitPermit {
  readonly account: string
  readonly cost: number
  /** Per clock-aligned exchange budget (by index): where the grant stood in its window. */
  readonly aligned: (AlignedGrant | undefined)[]
}

export interface BudgetLimiterOptions {
  /** First pause after a RATE_LIMITED error that gave no Retry-After; doubles with each one in a row. @default 5_000 */
  rateLimitBackoffMs?: number
  /** Longest such pause. @default 300_000 */
  maxRateLimitBackoffMs?: number
}

/**
 * Weighted budgets, in process and synchronous. An `exchange` budget is one window shared by every connection of
 * the exchange; an `account` budget is a window per account (the exchange's own account id when the adapter
 * reported one, else the connection). Windows slide, or follow the clock (`align: 'clock'`) as the exchange counts
 * them. A grant spends the sync's `cost` in every budget of the exchange at once; a RATE_LIMITED settlement pauses
 * the scope it names; a reported `usedWeight` re-aligns the exchange-scope count with the exchange's own.
 */
export class BudgetLimiter implements SyncLimiter {
  readonly #limits: ReadonlyMap<string, ResolvedLimits>
  readonly #backoffMs: number
  readonly #maxBackoffMs: number
  readonly #windows = new Map<string, Window>()
  readonly #pauses = new Map<string, Pause>()
  #pruneAt = 1_024

  constructor(limits: ReadonlyMap<string, ResolvedLimits>, options: BudgetLimiterOptions = {}) {
    this.#limits = limits
    this.#backoffMs = options.rateLimitBackoffMs ?? 5_000
    this.#maxBackoffMs = options.maxRateLimitBackoffMs ?? 300_000
  }

  acquire({ exchange, connectionId, account: reported, now }: LimitRequest): LimitDecision {
    const limits = this.#limits.get(exchange)
    const account = reported ?? connectionId
    if (!limits)
      return { granted: true, permit: { exchange, connectionId, account, cost: 0, aligned: [] } as BudgetPermit }
    const exchangePause = this.#pauses.get(exchange)
    if (exchangePause && exchangePause.until > now) {
      return { granted: false, retryAt: exchangePause.until, scope: 'exchange', reason: 'retry-after' }
    }
    const accountPause = this.#pauses.get(accountKey(exchange, account))
    if (accountPause && accountPause.until > now) {
      return { granted: false, retryAt: accountPause.until, scope: 'account', reason: 'retry-after' }
    }
    const { budgets, cost } = limits
    let retryAt = now
    let scope: 'exchange' | 'account' = 'exchange'
    for (let index = 0; index < budgets.length; index++) {
      const budget = budgets[index] as ResolvedLimits['budgets'][number]
      const fits = this.#window(exchange, account, budget, index).fitsAt(now, cost, budget.limit)
      if (fits > retryAt) {
        retryAt = fits
        scope = budget.scope
      }
    }
    if (retryAt > now) return { granted: false, retryAt, scope, reason: 'budget' }
    const aligned: BudgetPermit['aligned'] = []
    for (let index = 0; index < budgets.length; index++) {
      const budget = budgets[index] as ResolvedLimits['budgets'][number]
      const mark = this.#window(exchange, account, budget, index).add(now, cost)
      aligned.push(mark ?? undefined)
    }
    if (this.#windows.size > this.#pruneAt) this.#prune(now)
    const permit: BudgetPermit = { exchange, connectionId, account, cost, aligned }
    return { granted: true, permit }
  }

  settle(permit: LimitPermit, settlement: LimitSettlement): LimitSettleResult | undefined {
    const { exchange, connectionId } = permit
    const limits = this.#limits.get(exchange)
    if (!limits) return undefined
    const account = (permit as Partial<BudgetPermit>).account ?? connectionId
    const { now, usedWeight } = settlement
    if (usedWeight !== undefined && Number.isFinite(usedWeight) && usedWeight >= 0) {
      for (const [index, budget] of limits.budgets.entries()) {
        if (budget.scope !== 'exchange') continue
        const window = this.#window(exchange, account, budget, index)
        const mark = (permit as Partial<BudgetPermit>).aligned?.[index]
        if (window instanceof AlignedWindow) window.observe(now, mark, limits.cost, usedWeight)
        else window.alignTo(now, usedWeight)
      }
    }
    if (settlement.result === 'rate-limited') {
      const key = settlement.scope === 'account' ? accountKey(exchange, account) : exchange
      const pause = this.#pauses.get(key) ?? { until: 0, strikes: 0 }
      pause.strikes++
      const given = settlement.retryAfterMs
      const waitMs =
        given !== undefined && Number.isFinite(given) && given >= 0
          ? given
          : Math.min(this.#maxBackoffMs, this.#backoffMs * 2 ** Math.min(pause.strikes - 1, 20))
      pause.until = Math.max(pause.until, now + waitMs)
      this.#pauses.set(key, pause)
      if (this.#pauses.size > this.#pruneAt) this.#prune(now)
      return { pausedUntil: pause.until }
    }
    if (settlement.result === 'ok') {
      for (const key of [exchange, accountKey(exchange, account)]) {
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
      const left = budget.limit - this.#window(exchange, '', budget, index).used(now)
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

  #window(exchange: string, account: string, budget: ResolvedLimits['budgets'][number], index: number): Window {
    const key = budget.scope === 'exchange' ? `${exchange}#${index}` : `${accountKey(exchange, account)}#${index}`
    let window = this.#windows.get(key)
    if (!window) {
      window = budget.align === 'clock' ? new AlignedWindow(budget.windowMs) : new SlidingWindow(budget.windowMs)
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

function accountKey(exchange: string, account: string): string {
  return `${exchange}\u0000${account}`
}
