import { FakeClock, recordingAdapter } from '@syncfolio/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { InvalidOptionError } from '../errors/invalidOptionError.js'
import { SyncError } from '../errors/syncError.js'
import type { RateLimitEvent, WarningEvent } from '../scheduler/events.js'
import type { SyncSchedulerOptions } from '../scheduler/options.js'
import { SyncScheduler } from '../scheduler/syncScheduler.js'
import { MemoryStore } from '../store/memoryStore.js'
import type { Connection, ExchangeAdapter, FetchBalancesRequest, FetchBalancesResult } from '../types.js'

const MINUTE = 60_000
const schedulers: SyncScheduler[] = []
afterEach(async () => {
  await Promise.all(schedulers.splice(0).map((scheduler) => scheduler.stop({ timeoutMs: 0 })))
})

interface Start {
  at: number
  exchange: string
  connectionId: string
}

async function setup(
  counts: Record<string, number>,
  handlers: Record<string, (request: FetchBalancesRequest) => Promise<FetchBalancesResult> | FetchBalancesResult> = {},
  options: Partial<SyncSchedulerOptions> = {},
) {
  const clock = new FakeClock()
  const store = new MemoryStore()
  const connections: Record<string, Connection[]> = {}
  const adapters: ExchangeAdapter[] = []
  for (const [exchange, count] of Object.entries(counts)) {
    adapters.push(recordingAdapter(exchange, handlers[exchange] ?? (() => ({ balances: [] }))))
    connections[exchange] = []
    for (let n = 0; n < count; n++) {
      const userId = `${exchange}-user-${n}`
      const connection = await store.add({ userId, exchange, credentials: { apiKey: `${userId}-key`, secret: 's' } })
      connections[exchange]?.push(connection)
    }
  }
  const scheduler = new SyncScheduler({ store, exchanges: adapters, clock, random: () => 0.5, ...options })
  schedulers.push(scheduler)
  const starts: Start[] = []
  scheduler.on('sync:start', ({ startedAt, exchange, connectionId }) =>
    starts.push({ at: startedAt, exchange, connectionId }),
  )
  const rateLimits: RateLimitEvent[] = []
  scheduler.on('ratelimit', (event) => rateLimits.push(event))
  return { clock, store, scheduler, connections, starts, rateLimits }
}

/** The most starts in any window of `windowMs`, over every window that begins at a start. */
function busiestWindow(starts: Start[], windowMs: number): number {
  let worst = 0
  for (const first of starts) {
    worst = Math.max(worst, starts.filter((start) => start.at >= first.at && start.at < first.at + windowMs).length)
  }
  return worst
}

describe('exchange-scope budgets', () => {
  it('never exceed the budget in any sliding window, across every connection of the exchange', async () => {
    // 10 syncs a minute for the whole exchange, 60 connections due every minute: demand is 6x the budget.
    const { clock, scheduler, starts } = await setup(
      { binance: 60 },
      {},
      {
        limits: { binance: { cost: 20, budgets: [{ scope: 'exchange', limit: 200, windowMs: MINUTE }] } },
      },
    )
    scheduler.start()
    await clock.advance(6 * MINUTE - 1)
    expect(busiestWindow(starts, MINUTE)).toBe(10)
    // ...and the budget is used: 10 at the start of each of the 6 minutes.
    expect(starts.length).toBe(60)
    expect(new Set(starts.map((start) => start.connectionId)).size).toBe(60)
  })

  it('holds no concurrency slot while waiting for budget: another exchange uses every slot', async () => {
    const { clock, scheduler, starts } = await setup(
      { binance: 20, okx: 20 },
      {
        okx: () => new Promise((resolve) => clock.setTimeout(() => resolve({ balances: [] }), 1_000)),
      },
      {
        concurrency: 2,
        limits: {
          binance: { cost: 20, budgets: [{ scope: 'exchange', limit: 40, windowMs: MINUTE }] },
          okx: { budgets: [] },
        },
      },
    )
    void scheduler.runOnce()
    await clock.advance(10 * 1_000)
    const binance = starts.filter((start) => start.exchange === 'binance')
    const okx = starts.filter((start) => start.exchange === 'okx')
    expect(binance).toHaveLength(2)
    // 20 one-second OKX calls in ten seconds means both slots stayed busy with OKX.
    expect(okx).toHaveLength(20)
    expect(scheduler.stats().exchanges.binance).toMatchObject({ inFlight: 0, budgetLeft: 0, queued: 18 })
    expect(scheduler.stats().exchanges.binance?.pausedUntil).toBe(clock.now() - 10_000 + MINUTE)
  })

  it('reports a budget wait as a ratelimit event', async () => {
    const { scheduler, rateLimits, clock } = await setup(
      { binance: 3 },
      {},
      {
        limits: { binance: { cost: 20, budgets: [{ scope: 'exchange', limit: 40, windowMs: MINUTE }] } },
      },
    )
    void scheduler.runOnce()
    await clock.advance(0)
    expect(rateLimits[0]).toEqual({
      exchange: 'binance',
      scope: 'exchange',
      key: 'binance',
      waitMs: MINUTE,
      reason: 'budget',
    })
  })

  it("re-aligns with the exchange's own count from usage.usedWeight", async () => {
    const { clock, scheduler, starts } = await setup(
      { binance: 20 },
      {
        binance: () => ({ balances: [], usage: { usedWeight: 5_900 } }),
      },
      { concurrency: 1 },
    )
    void scheduler.runOnce()
    await clock.advance(MINUTE - 1_000)
    // The default budget is 6,000 a minute at cost 20; the exchange says another client already used 5,900: six
    // syncs fit in this minute's window (spread over it, as outside weight is being spent), not three hundred.
    expect(starts).toHaveLength(6)
    await clock.advance(MINUTE)
    expect(starts.length).toBeGreaterThan(6)
  })
})

describe('Retry-After', () => {
  it('pauses exactly the exchange it names while another exchange goes on', async () => {
    let limited = false
    const { clock, scheduler, starts, rateLimits } = await setup(
      { binance: 10, okx: 10 },
      {
        binance: () => {
          if (!limited) {
            limited = true
            throw new SyncError('RATE_LIMITED', '429', { retryAfterMs: 30_000, scope: 'exchange' })
          }
          return { balances: [] }
        },
        okx: () => new Promise((resolve) => clock.setTimeout(() => resolve({ balances: [] }), 2_000)),
      },
      { concurrency: 1, limits: { binance: { budgets: [] }, okx: { budgets: [] } } },
    )
    void scheduler.runOnce()
    await clock.advance(29_999)
    const t0 = starts[0]?.at as number
    expect(starts.filter((start) => start.exchange === 'binance')).toHaveLength(1)
    expect(starts.filter((start) => start.exchange === 'okx').length).toBeGreaterThanOrEqual(10)
    expect(rateLimits).toContainEqual({
      exchange: 'binance',
      scope: 'exchange',
      key: 'binance',
      waitMs: 30_000,
      reason: 'retry-after',
    })
    await clock.advance(20_000)
    const resumed = starts.filter((start) => start.exchange === 'binance')
    expect(resumed.length).toBeGreaterThan(1)
    expect((resumed[1] as Start).at).toBeGreaterThanOrEqual(t0 + 30_000)
  })

  it('pauses only the account for an account-scope limit', async () => {
    const { clock, scheduler, connections, starts } = await setup(
      { okx: 3 },
      {
        okx: ({ connection }) => {
          if (connection.userId === 'okx-user-0') {
            throw new SyncError('RATE_LIMITED', '50011', { retryAfterMs: 10_000, scope: 'account' })
          }
          return { balances: [] }
        },
      },
    )
    const [limitedAccount, other] = connections.okx as [Connection, Connection]
    await scheduler.syncNow(limitedAccount.id)
    const second = scheduler.syncNow(limitedAccount.id)
    const otherOutcome = await scheduler.syncNow(other.id)
    expect(otherOutcome.ok).toBe(true)
    await clock.advance(9_999)
    expect(starts.filter((start) => start.connectionId === limitedAccount.id)).toHaveLength(1)
    await clock.advance(1)
    await second
    expect(starts.filter((start) => start.connectionId === limitedAccount.id)).toHaveLength(2)
    expect(scheduler.stats().exchanges.okx?.pausedAccounts).toBe(1)
  })

  it('pauses with backoff when a rate-limit error gives no Retry-After', async () => {
    const { clock, scheduler, connections, starts } = await setup(
      { binance: 2 },
      {
        binance: () => {
          throw new SyncError('RATE_LIMITED', '429 without Retry-After')
        },
      },
      { limits: { binance: { budgets: [] } } },
    )
    const [a, b] = connections.binance as [Connection, Connection]
    await scheduler.syncNow(a.id)
    const next = scheduler.syncNow(b.id)
    await clock.advance(4_999)
    expect(starts).toHaveLength(1)
    await clock.advance(1)
    await next
    expect(starts).toHaveLength(2)
    expect((starts[1] as Start).at - (starts[0] as Start).at).toBe(5_000)
  })
})

describe('fair, demand-aware dispatch', () => {
  it('never lets a hanging exchange hold every slot while another has work', async () => {
    const { clock, scheduler, starts } = await setup(
      { hanging: 20, healthy: 40 },
      {
        hanging: () => new Promise(() => {}),
        healthy: () => new Promise((resolve) => clock.setTimeout(() => resolve({ balances: [] }), 100)),
      },
      { concurrency: 4, timeoutMs: 30_000, limits: { hanging: { budgets: [] }, healthy: { budgets: [] } } },
    )
    void scheduler.runOnce()
    await clock.advance(2_100)
    const healthy = starts.filter((start) => start.exchange === 'healthy')
    // Two slots (its fair half of four) at 100 ms a call: all 40 in about two seconds, long before any timeout.
    expect(healthy).toHaveLength(40)
    const lastHealthy = (healthy.at(-1) as Start).at
    expect(starts.filter((start) => start.exchange === 'hanging' && start.at <= lastHealthy)).toHaveLength(2)
    // Once the healthy exchange has nothing left, the free slots go to the other one.
    expect(scheduler.stats().exchanges.hanging?.inFlight).toBe(4)
  })

  it("keeps another exchange on its interval while one exchange's sweep waits for budget", async () => {
    // Binance can do 10 syncs a minute for 100 due connections: its sweep stays open for ten minutes.
    const { clock, scheduler, connections, starts } = await setup(
      { binance: 100, okx: 5 },
      {},
      {
        limits: {
          binance: { cost: 20, budgets: [{ scope: 'exchange', limit: 200, windowMs: MINUTE }] },
          okx: { budgets: [] },
        },
      },
    )
    scheduler.start()
    await clock.advance(5 * MINUTE)
    for (const connection of connections.okx as Connection[]) {
      const syncs = starts.filter((start) => start.connectionId === connection.id).length
      expect(syncs).toBeGreaterThanOrEqual(5)
    }
    expect(starts.filter((start) => start.exchange === 'binance').length).toBeLessThanOrEqual(60)
  })

  it('keeps an exchange whose calls time out to one slot while another has work', async () => {
    const { clock, scheduler } = await setup(
      { hanging: 20, healthy: 200 },
      {
        hanging: () => new Promise(() => {}),
        healthy: () => new Promise((resolve) => clock.setTimeout(() => resolve({ balances: [] }), 100)),
      },
      { concurrency: 4, timeoutMs: 1_000, limits: { hanging: { budgets: [] }, healthy: { budgets: [] } } },
    )
    void scheduler.runOnce()
    await clock.advance(500)
    // Before any timeout: the fair half each.
    expect(scheduler.stats().exchanges).toMatchObject({ hanging: { inFlight: 2 }, healthy: { inFlight: 2 } })
    await clock.advance(1_000)
    // Two timeouts in a row: the hanging exchange keeps one slot, the healthy one gets the rest.
    expect(scheduler.stats().exchanges).toMatchObject({ hanging: { inFlight: 1 }, healthy: { inFlight: 3 } })
  })

  it('lets one exchange use every slot when no other has work', async () => {
    const { clock, scheduler } = await setup(
      { binance: 10 },
      {
        binance: () => new Promise((resolve) => clock.setTimeout(() => resolve({ balances: [] }), 100)),
      },
      { concurrency: 5, limits: { binance: { budgets: [] } } },
    )
    void scheduler.runOnce()
    await clock.advance(0)
    expect(scheduler.stats().inFlight).toBe(5)
  })

  it('syncs the stalest first, users who are looking before them, and starves nobody', async () => {
    const { clock, scheduler, store, connections, starts } = await setup(
      { binance: 20 },
      {},
      {
        limits: { binance: { cost: 1, budgets: [{ scope: 'exchange', limit: 5, windowMs: MINUTE }] } },
      },
    )
    const list = connections.binance as Connection[]
    // Give them distinct ages: connection n last synced n minutes before the start.
    for (const [n, connection] of list.entries()) {
      const at = clock.now() - (n + 1) * MINUTE
      await store.recordSuccess(connection.id, { balances: [], startedAt: at, finishedAt: at, nextSyncAt: at + MINUTE })
    }
    scheduler.markActive('binance-user-3')
    scheduler.start()
    await clock.advance(4 * MINUTE - 1)
    const order = starts.map((start) => list.findIndex((connection) => connection.id === start.connectionId))
    expect(order[0]).toBe(3)
    expect(order.slice(1, 5)).toEqual([19, 18, 17, 16])
    // Five a minute for four minutes covers all twenty exactly once: nobody starves.
    expect(order).toHaveLength(20)
    expect(new Set(order).size).toBe(20)
    expect(order.slice(1)).toEqual([...order.slice(1)].sort((a, b) => b - a))
  })
})

describe('defaults', () => {
  it('applies the built-in Binance and OKX budgets', async () => {
    const { scheduler } = await setup({ binance: 1, okx: 1 })
    await scheduler.runOnce()
    expect(scheduler.stats().exchanges).toMatchObject({
      binance: { budgetLeft: 6_000 - 20 },
      okx: { budgetLeft: null, pausedAccounts: 0 },
    })
  })

  it('gives an unknown exchange a conservative budget and warns once', async () => {
    const { clock, scheduler, starts } = await setup({ kraken: 70 })
    const warnings: WarningEvent[] = []
    scheduler.on('warning', (warning) => warnings.push(warning))
    void scheduler.runOnce()
    await clock.advance(MINUTE - 1)
    expect(starts).toHaveLength(60)
    expect(warnings).toEqual([expect.objectContaining({ code: 'DEFAULT_LIMITS', exchange: 'kraken' })])
    expect(warnings[0]?.message).toContain('limits.kraken')
  })

  it('rejects a budget that one sync could never fit', () => {
    const attempt = () =>
      new SyncScheduler({
        store: new MemoryStore(),
        exchanges: [recordingAdapter('binance')],
        limits: { binance: { budgets: [{ scope: 'exchange', limit: 10, windowMs: 1_000 }] } },
      })
    expect(attempt).toThrow(InvalidOptionError)
    expect(attempt).toThrow('option "limits.binance.budgets.0.limit" is invalid: a sync costs 20')
  })
})
