import { describe, expect, it } from 'vitest'
import { BudgetLimiter } from '../limits/budgetLimiter.js'
import { DEFAULT_LIMITS, type ResolvedLimits, resolveLimits } from '../limits/exchangeLimits.js'
import { SlidingWindow } from '../limits/slidingWindow.js'

const T0 = 1_000_000
const limiterFor = (limits: Record<string, ResolvedLimits>) => new BudgetLimiter(new Map(Object.entries(limits)))
const exchangeBudget = (limit: number, windowMs: number, cost = 1): ResolvedLimits => ({
  cost,
  budgets: [{ scope: 'exchange', limit, windowMs }],
  concurrency: Number.POSITIVE_INFINITY,
})

/** Every window of `windowMs` that starts at a grant: the weight inside it. */
function worstWindow(grants: Array<{ at: number; weight: number }>, windowMs: number): number {
  let worst = 0
  for (const start of grants) {
    let sum = 0
    for (const grant of grants) if (grant.at >= start.at && grant.at < start.at + windowMs) sum += grant.weight
    worst = Math.max(worst, sum)
  }
  return worst
}

describe('SlidingWindow', () => {
  it('frees weight exactly one window after it was spent', () => {
    const window = new SlidingWindow(1_000)
    window.add(T0, 6)
    window.add(T0 + 400, 4)
    expect(window.used(T0 + 999)).toBe(10)
    expect(window.fitsAt(T0 + 500, 3, 10)).toBe(T0 + 1_000)
    expect(window.fitsAt(T0 + 500, 7, 10)).toBe(T0 + 1_400)
    expect(window.fitsAt(T0 + 500, 11, 10)).toBe(Number.POSITIVE_INFINITY)
    expect(window.used(T0 + 1_000)).toBe(4)
    expect(window.used(T0 + 1_400)).toBe(0)
  })

  it('aligns up to a reported count, never down', () => {
    const window = new SlidingWindow(60_000)
    window.add(T0, 20)
    window.alignTo(T0 + 1, 5_900)
    expect(window.used(T0 + 1)).toBe(5_900)
    window.alignTo(T0 + 2, 100)
    expect(window.used(T0 + 2)).toBe(5_900)
  })
})

describe('BudgetLimiter', () => {
  it('never exceeds a budget in any sliding window, under random demand, and uses nearly all of it', () => {
    const limiter = limiterFor({ binance: exchangeBudget(6_000, 60_000, 20) })
    const grants: Array<{ at: number; weight: number }> = []
    let seed = 7
    const random = () => {
      seed = (seed * 48_271) % 2_147_483_647
      return seed / 2_147_483_647
    }
    let now = T0
    const end = T0 + 10 * 60_000
    while (now < end) {
      const decision = limiter.acquire({ exchange: 'binance', connectionId: `c${Math.floor(random() * 500)}`, now })
      if (decision.granted) {
        grants.push({ at: now, weight: 20 })
        now += Math.floor(random() * 300)
      } else {
        expect(decision.reason).toBe('budget')
        expect(decision.retryAt).toBeGreaterThan(now)
        now = decision.retryAt + Math.floor(random() * 50)
      }
    }
    expect(worstWindow(grants, 60_000)).toBeLessThanOrEqual(6_000)
    // Ten minutes of a 6,000-per-minute budget at cost 20: 3,000 syncs at most; demand outran it throughout.
    expect(grants.length).toBeGreaterThanOrEqual(0.97 * 3_000)
    expect(grants.length).toBeLessThanOrEqual(3_000 + 300)
  })

  it('keeps one window per account for account-scope budgets', () => {
    const limiter = limiterFor({ okx: DEFAULT_LIMITS.okx as ResolvedLimits })
    for (let n = 0; n < 10; n++)
      expect(limiter.acquire({ exchange: 'okx', connectionId: 'a', now: T0 + n }).granted).toBe(true)
    const denied = limiter.acquire({ exchange: 'okx', connectionId: 'a', now: T0 + 10 })
    expect(denied).toEqual({ granted: false, retryAt: T0 + 2_000, scope: 'account', reason: 'budget' })
    expect(limiter.acquire({ exchange: 'okx', connectionId: 'b', now: T0 + 10 }).granted).toBe(true)
  })

  it('pauses the scope a Retry-After names, and only that scope', () => {
    const limiter = limiterFor({
      binance: exchangeBudget(6_000, 60_000, 20),
      okx: DEFAULT_LIMITS.okx as ResolvedLimits,
    })
    const settled = limiter.settle(
      { exchange: 'binance', connectionId: 'a' },
      { now: T0, result: 'rate-limited', retryAfterMs: 30_000, scope: 'exchange' },
    )
    expect(settled).toEqual({ pausedUntil: T0 + 30_000 })
    expect(limiter.acquire({ exchange: 'binance', connectionId: 'b', now: T0 + 29_999 })).toMatchObject({
      granted: false,
      retryAt: T0 + 30_000,
      scope: 'exchange',
      reason: 'retry-after',
    })
    expect(limiter.acquire({ exchange: 'binance', connectionId: 'b', now: T0 + 30_000 }).granted).toBe(true)
    expect(limiter.stats('binance', T0 + 1)).toMatchObject({ pausedUntil: T0 + 30_000 })

    limiter.settle(
      { exchange: 'okx', connectionId: 'a' },
      { now: T0, result: 'rate-limited', retryAfterMs: 10_000, scope: 'account' },
    )
    expect(limiter.acquire({ exchange: 'okx', connectionId: 'a', now: T0 + 1 })).toMatchObject({
      granted: false,
      scope: 'account',
    })
    expect(limiter.acquire({ exchange: 'okx', connectionId: 'b', now: T0 + 1 }).granted).toBe(true)
    expect(limiter.stats('okx', T0 + 1)).toMatchObject({ pausedUntil: null, pausedAccounts: 1, budgetLeft: null })
  })

  it('backs off exponentially on rate limits without a Retry-After, and forgets after a success', () => {
    const limiter = limiterFor({ binance: exchangeBudget(6_000, 60_000, 20) })
    const permit = { exchange: 'binance', connectionId: 'a' }
    const pauses = [0, 1, 2, 3].map(
      (n) =>
        (limiter.settle(permit, { now: T0 + n * 1_000_000, result: 'rate-limited' })?.pausedUntil as number) -
        (T0 + n * 1_000_000),
    )
    expect(pauses).toEqual([5_000, 10_000, 20_000, 40_000])
    limiter.settle(permit, { now: T0 + 10_000_000, result: 'ok' })
    expect(limiter.settle(permit, { now: T0 + 20_000_000, result: 'rate-limited' })?.pausedUntil).toBe(T0 + 20_005_000)
  })

  it("re-aligns the exchange-scope count with the exchange's usedWeight", () => {
    const sliding = {
      ...(DEFAULT_LIMITS.binance as ResolvedLimits),
      budgets: [{ scope: 'exchange' as const, limit: 6_000, windowMs: 60_000 }],
    }
    const limiter = limiterFor({ binance: sliding })
    const decision = limiter.acquire({ exchange: 'binance', connectionId: 'a', now: T0 })
    expect(decision.granted).toBe(true)
    expect(limiter.stats('binance', T0).budgetLeft).toBe(5_980)
    limiter.settle({ exchange: 'binance', connectionId: 'a' }, { now: T0 + 50, result: 'ok', usedWeight: 5_900 })
    expect(limiter.stats('binance', T0 + 50).budgetLeft).toBe(100)
    for (let n = 0; n < 5; n++)
      expect(limiter.acquire({ exchange: 'binance', connectionId: `c${n}`, now: T0 + 100 }).granted).toBe(true)
    expect(limiter.acquire({ exchange: 'binance', connectionId: 'c9', now: T0 + 100 })).toMatchObject({
      granted: false,
      retryAt: T0 + 60_000,
    })
  })

  it('grants everything for an exchange it has no limits for', () => {
    const limiter = limiterFor({})
    for (let n = 0; n < 1_000; n++)
      expect(limiter.acquire({ exchange: 'x', connectionId: 'a', now: T0 }).granted).toBe(true)
  })
})

describe('resolveLimits', () => {
  it('merges the given fields over the built-in defaults', () => {
    expect(resolveLimits('binance', { concurrency: 3 })).toEqual({
      cost: 20,
      budgets: [{ scope: 'exchange', limit: 6_000, windowMs: 60_000, align: 'clock' }],
      concurrency: 3,
    })
    expect(resolveLimits('binance', { budgets: [] }).budgets).toEqual([])
    expect(resolveLimits('okx', {}).budgets).toEqual([{ scope: 'account', limit: 10, windowMs: 2_000 }])
    expect(resolveLimits('kraken', undefined).budgets).toEqual([{ scope: 'exchange', limit: 60, windowMs: 60_000 }])
  })
})

describe('memory', () => {
  it('forgets account pauses long over, even on an exchange whose only budget is exchange-wide', () => {
    // Binance keeps one window for the whole exchange; its accounts still get paused one by one.
    const limiter = limiterFor({ binance: exchangeBudget(6_000, 60_000, 20) })
    for (let n = 0; n < 20_000; n++) {
      const now = T0 + n * 600_000
      limiter.acquire({ exchange: 'binance', connectionId: `b${n}`, now })
      limiter.settle({ exchange: 'binance', connectionId: `b${n}` }, { now, result: 'rate-limited', scope: 'account' })
    }
    // Held entries stay within the pruning threshold, not one per account ever paused.
    expect(limiter.retained()).toBeLessThanOrEqual(1_100)
    expect(limiter.stats('binance', T0 + 20_000 * 600_000).pausedAccounts).toBe(0)
  })
})
