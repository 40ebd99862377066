import { deferred, FakeClock, recordingAdapter } from '@syncfolio/testing'
import { describe, expect, it } from 'vitest'
import { SyncError } from '../errors/syncError.js'
import type { LimitDecision, LimitRequest, SyncLimiter } from '../limits/syncLimiter.js'
import type { WarningEvent } from '../scheduler/events.js'
import type { SyncSchedulerOptions } from '../scheduler/options.js'
import { SyncScheduler } from '../scheduler/syncScheduler.js'
import { freshConnection } from '../store/freshConnection.js'
import { MemoryStore } from '../store/memoryStore.js'
import type { Connection, ExchangeAdapter, FetchBalancesRequest, FetchBalancesResult } from '../types.js'

// Paths that used to stop an exchange for good, or let a waiting exchange hold slots another could use.

const MINUTE = 60_000
const keys = (n: number | string) => ({ apiKey: `key-${n}-ABCDEFGH`, secret: `secret-${n}-IJKLMNOP` })

type Handler = (request: FetchBalancesRequest) => Promise<FetchBalancesResult> | FetchBalancesResult

async function setup(
  counts: Record<string, number>,
  handlers: Record<string, Handler> = {},
  options: Partial<SyncSchedulerOptions> = {},
) {
  const store = new MemoryStore()
  const clock = (options.clock as FakeClock | undefined) ?? new FakeClock()
  const connections: Record<string, Connection[]> = {}
  for (const [exchange, count] of Object.entries(counts)) {
    connections[exchange] = []
    for (let n = 0; n < count; n++) {
      const connection = await store.add({
        userId: `u-${exchange}-${n}`,
        exchange,
        credentials: keys(`${exchange}${n}`),
      })
      connections[exchange].push(connection)
    }
  }
  const adapters = Object.keys(handlers).map((id) => recordingAdapter(id, handlers[id]))
  const limits = Object.fromEntries(Object.keys(handlers).map((id) => [id, { budgets: [] }]))
  const scheduler = new SyncScheduler({ store, clock, exchanges: adapters, limits, ...options })
  const errors: Error[] = []
  scheduler.on('error', (error) => errors.push(error))
  return { store, clock, scheduler, connections, errors, adapter: (id: string) => adapters.find((a) => a.id === id)! }
}

const after = (clock: FakeClock, ms: number) => new Promise<void>((resolve) => clock.setTimeout(resolve, ms))

describe('a page of due connections that yields no new job', () => {
  it('reads the next page itself, so the sweep goes on and runOnce resolves', async () => {
    const held = new Map<string, () => void>()
    const { store, clock, scheduler, adapter } = await setup(
      { binance: 5 },
      {
        binance: ({ connection }) =>
          held.has(connection.id) || held.size < 2
            ? new Promise((resolve) => held.set(connection.id, () => resolve({ balances: [] })))
            : { balances: [] },
      },
      { pageSize: 2, concurrency: 5, timeoutMs: 10 * MINUTE },
    )
    // The first page's two connections are already syncing on manual requests.
    const firstPage = await store.listDue(clock.now(), 2, { exchange: 'binance' })
    const manual = firstPage.map((connection) => scheduler.syncNow(connection.id))
    await clock.advance(0)
    expect(held.size).toBe(2)
    let report: Awaited<ReturnType<SyncScheduler['runOnce']>> | undefined
    void scheduler.runOnce().then((value) => {
      report = value
    })
    await clock.advance(100)
    // The three on later pages synced although the first page gave the sweep nothing to do.
    expect(adapter('binance').calls).toHaveLength(5)
    for (const release of held.values()) release()
    await Promise.all(manual)
    await clock.advance(100)
    expect(report).toMatchObject({ attempted: 3, succeeded: 3, failed: 0 })
  })

  it('goes on past connections held after the store failed to take their results', async () => {
    const { store, clock, scheduler, adapter } = await setup(
      { binance: 6 },
      { binance: () => ({ balances: [] }) },
      {
        pageSize: 2,
        concurrency: 1,
      },
    )
    const firstPage = await store.listDue(clock.now(), 2, { exchange: 'binance' })
    const failing = new Set(firstPage.map((connection) => connection.id))
    const recordSuccess = store.recordSuccess.bind(store)
    store.recordSuccess = (id, record) =>
      failing.has(id) ? Promise.reject(new Error('disk full')) : recordSuccess(id, record)
    await scheduler.runOnce()
    // The two that could not be stored are due and held; the next sweep reads past them.
    const report = scheduler.runOnce()
    await clock.advance(0)
    expect(await report).toMatchObject({ attempted: 0 })
    expect(adapter('binance').calls).toHaveLength(6)
  })
})

describe('a waiting exchange holds no slot another exchange could use', () => {
  it('an OKX account paused for 10 minutes, with a syncNow queued, leaves all four slots to Binance', async () => {
    let firstOkx = true
    const { clock, scheduler, connections, adapter } = await setup(
      { okx: 1, binance: 20 },
      {
        okx: () => {
          if (!firstOkx) return { balances: [] }
          firstOkx = false
          throw new SyncError('RATE_LIMITED', '50011', { retryAfterMs: 10 * MINUTE, scope: 'account' })
        },
        binance: () => after(clock, 100).then(() => ({ balances: [] })),
      },
      { concurrency: 4, timeoutMs: 20 * MINUTE },
    )
    const okx = (connections.okx as Connection[])[0] as Connection
    expect(await scheduler.syncNow(okx.id)).toMatchObject({ ok: false, error: { code: 'RATE_LIMITED' } })
    const waiting = scheduler.syncNow(okx.id)
    void scheduler.runOnce()
    await clock.advance(600)
    expect(adapter('binance').maxInFlight).toBe(4)
    expect(adapter('binance').calls).toHaveLength(20)
    expect(scheduler.stats().exchanges.okx).toMatchObject({ queued: 1, inFlight: 0 })
    await clock.advance(10 * MINUTE)
    expect(await waiting).toMatchObject({ ok: true })
  })

  it('an exchange waiting 20 s for its budget does not halve another exchange throughput', async () => {
    const { clock, scheduler, adapter } = await setup(
      { slow: 4, binance: 40 },
      {
        slow: () => ({ balances: [] }),
        binance: () => after(clock, 100).then(() => ({ balances: [] })),
      },
      {
        concurrency: 4,
        limits: {
          slow: { cost: 1, budgets: [{ scope: 'exchange', limit: 1, windowMs: 20_000 }] },
          binance: { budgets: [] },
        },
      },
    )
    void scheduler.runOnce()
    await clock.advance(1_050)
    // One slow sync ran; the other three wait 20 s each for budget. Binance gets all four slots meanwhile:
    // 40 syncs of 100 ms in about one second.
    expect(adapter('slow').calls).toHaveLength(1)
    expect(adapter('binance').maxInFlight).toBe(4)
    expect(adapter('binance').calls).toHaveLength(40)
  })
})

describe('bad numbers from an adapter', () => {
  it.each([
    ['NaN', Number.NaN],
    ['negative', -5_000],
  ])(
    'a %s retryAfterMs is dropped: the connection backs off as usual and its exchange keeps syncing',
    async (_name, retryAfterMs) => {
      const { store, clock, scheduler, connections, adapter } = await setup(
        { binance: 3 },
        {
          binance: ({ connection }) => {
            if (connection.id === bad.id) throw new SyncError('RATE_LIMITED', '429', { retryAfterMs, scope: 'account' })
            return { balances: [] }
          },
        },
      )
      const bad = (connections.binance as Connection[])[0] as Connection
      const start = clock.now()
      await scheduler.runOnce()
      const stored = (await store.get(bad.id)) as Connection
      expect(Number.isFinite(stored.nextSyncAt)).toBe(true)
      expect(stored.nextSyncAt as number).toBeGreaterThanOrEqual(start + MINUTE)
      await store.remove(bad.id)
      await clock.advance(2 * MINUTE)
      const calls = adapter('binance').calls.length
      await scheduler.runOnce()
      expect(adapter('binance').calls.length).toBe(calls + 2)
    },
  )

  it('an Infinity retryAfterMs pauses the exchange for maxPauseMs at the most', async () => {
    const { clock, scheduler, connections } = await setup(
      { binance: 2 },
      {
        binance: () => {
          throw new SyncError('RATE_LIMITED', '418', { retryAfterMs: Number.POSITIVE_INFINITY, scope: 'exchange' })
        },
      },
      { maxPauseMs: 3_600_000 },
    )
    const now = clock.now()
    const outcome = await scheduler.syncNow(((connections.binance as Connection[])[0] as Connection).id)
    expect(outcome).toMatchObject({ ok: false, error: { code: 'RATE_LIMITED', retryAfterMs: 3_600_000 } })
    expect(scheduler.stats().exchanges.binance?.pausedUntil).toBe(now + 3_600_000)
  })

  it('a retryAfterMs past maxPauseMs (default: 3 days) is cut to it', async () => {
    const { clock, scheduler, connections } = await setup(
      { binance: 1 },
      {
        binance: () => {
          throw new SyncError('RATE_LIMITED', '418', { retryAfterMs: 30 * 86_400_000, scope: 'exchange' })
        },
      },
    )
    const now = clock.now()
    await scheduler.syncNow(((connections.binance as Connection[])[0] as Connection).id)
    expect(scheduler.stats().exchanges.binance?.pausedUntil).toBe(now + 3 * 86_400_000)
  })
})

describe('stop()', () => {
  it('starts nothing when a slow listDue page lands after stop() resolved', async () => {
    const { store, clock, scheduler, adapter } = await setup(
      { binance: 3 },
      { binance: () => ({ balances: [] }) },
      { storeTimeoutMs: 2_000 },
    )
    const page = deferred<Connection[]>()
    const listDue = store.listDue.bind(store)
    let slow = true
    store.listDue = (...args) => {
      if (!slow) return listDue(...args)
      slow = false
      return listDue(...args).then((connections) => page.promise.then(() => connections))
    }
    scheduler.start()
    await clock.advance(10)
    let stopped = false
    void scheduler.stop({ timeoutMs: 100 }).then(() => {
      stopped = true
    })
    await clock.advance(3_000)
    expect(stopped).toBe(true)
    page.resolve([])
    await clock.advance(MINUTE)
    expect(adapter('binance').calls).toHaveLength(0)
  })

  it('overlapping stop() calls share one drain', async () => {
    const release = deferred<FetchBalancesResult>()
    const { clock, scheduler, connections } = await setup({ binance: 1 }, { binance: () => release.promise })
    void scheduler.syncNow(((connections.binance as Connection[])[0] as Connection).id)
    await clock.advance(0)
    const first = scheduler.stop({ timeoutMs: 10_000 })
    const second = scheduler.stop({ timeoutMs: 10 })
    expect(second).toBe(first)
    let done = 0
    void first.then(() => done++)
    void second.then(() => done++)
    await clock.advance(1_000)
    expect(done).toBe(0)
    release.resolve({ balances: [] })
    await clock.advance(0)
    expect(done).toBe(2)
  })
})

describe('a connection whose exchange has no adapter', () => {
  it('is recorded as UNSUPPORTED_EXCHANGE, counted in the report, with one warning naming the exchange', async () => {
    const { store, clock, scheduler, connections } = await setup(
      { binance: 1, kraken: 2 },
      { binance: () => ({ balances: [] }) },
    )
    const warnings: WarningEvent[] = []
    scheduler.on('warning', (warning) => warnings.push(warning))
    expect(await scheduler.runOnce()).toMatchObject({ attempted: 3, succeeded: 1, failed: 2 })
    for (const connection of connections.kraken as Connection[]) {
      const stored = (await store.get(connection.id)) as Connection
      expect(stored).toMatchObject({ status: 'active', lastError: { code: 'UNSUPPORTED_EXCHANGE' } })
      expect(stored.lastError?.message).toContain('kraken')
    }
    await clock.advance(3 * MINUTE)
    expect(await scheduler.runOnce()).toMatchObject({ failed: 2 })
    expect(warnings.filter((warning) => warning.code === 'UNSUPPORTED_EXCHANGE')).toEqual([
      expect.objectContaining({ exchange: 'kraken' }),
    ])
  })

  it('syncs again once an adapter for it is configured', async () => {
    const first = await setup({ kraken: 1 }, { binance: () => ({ balances: [] }) })
    await first.scheduler.runOnce()
    const kraken = recordingAdapter('kraken')
    const next = new SyncScheduler({
      store: first.store,
      clock: first.clock,
      exchanges: [kraken],
      limits: { kraken: { budgets: [] } },
    })
    await first.clock.advance(3 * MINUTE)
    expect(await next.runOnce()).toMatchObject({ attempted: 1, succeeded: 1 })
    expect(kraken.calls).toHaveLength(1)
  })
})

describe('a manual sync during a pause', () => {
  it('resolves at once with RATE_LIMITED and the wait left, instead of waiting for a ban of days', async () => {
    const { clock, scheduler, connections } = await setup(
      { binance: 2 },
      {
        binance: () => {
          throw new SyncError('RATE_LIMITED', '418 banned', { retryAfterMs: 2 * 86_400_000, scope: 'exchange' })
        },
      },
    )
    const [a, b] = connections.binance as [Connection, Connection]
    await scheduler.syncNow(a.id)
    await clock.advance(1_000)
    let outcome: unknown
    void scheduler.syncNow(b.id).then((value) => {
      outcome = value
    })
    await clock.advance(0)
    expect(outcome).toMatchObject({
      ok: false,
      error: { code: 'RATE_LIMITED', scope: 'exchange', retryAfterMs: 2 * 86_400_000 - 1_000 },
    })
  })

  it('waits for a pause shorter than timeoutMs and then syncs', async () => {
    let calls = 0
    const { clock, scheduler, connections } = await setup(
      { binance: 2 },
      {
        binance: () => {
          if (calls++ === 0) throw new SyncError('RATE_LIMITED', '429', { retryAfterMs: 5_000, scope: 'exchange' })
          return { balances: [] }
        },
      },
    )
    const [a, b] = connections.binance as [Connection, Connection]
    await scheduler.syncNow(a.id)
    const waiting = scheduler.syncNow(b.id)
    await clock.advance(5_000)
    expect(await waiting).toMatchObject({ ok: true })
  })
})

describe('active users', () => {
  it('150 users marked active while nothing is due cost one listByUser each, not one per tick', async () => {
    const { store, clock, scheduler } = await setup({ binance: 150 }, { binance: () => ({ balances: [] }) })
    await scheduler.runOnce()
    let reads = 0
    const listByUser = store.listByUser.bind(store)
    store.listByUser = (userId) => {
      reads++
      return listByUser(userId)
    }
    scheduler.start()
    for (let second = 0; second < 60; second++) {
      for (let n = 0; n < 150; n++) scheduler.markActive(`u-binance-${n}`)
      await clock.advance(1_000)
    }
    await scheduler.stop()
    expect(reads).toBeLessThanOrEqual(150)
  })
})

describe('a store call that never answers', () => {
  it('times out: that sync fails like any store failure, and the sweep and the next sweeps go on', async () => {
    const { store, clock, scheduler, connections, errors, adapter } = await setup(
      { binance: 3 },
      { binance: () => ({ balances: [] }) },
      { storeTimeoutMs: 5_000 },
    )
    const stuck = ((connections.binance as Connection[])[0] as Connection).id
    const getCredentials = store.getCredentials.bind(store)
    store.getCredentials = (id) => (id === stuck ? new Promise(() => {}) : getCredentials(id))
    let report: unknown
    void scheduler.runOnce().then((value) => {
      report = value
    })
    await clock.advance(5_000)
    expect(report).toMatchObject({ attempted: 3, succeeded: 2, failed: 1 })
    expect(errors.some((error) => /store.getCredentials did not answer within 5000 ms/.test(error.message))).toBe(true)
    store.getCredentials = getCredentials
    await clock.advance(2 * MINUTE)
    await scheduler.runOnce()
    expect(adapter('binance').calls.map((call) => call.connectionId)).toContain(stuck)
  })

  it('a listDue that never answers ends that sweep; the next sweep reads again', async () => {
    const { store, clock, scheduler, adapter } = await setup(
      { binance: 2 },
      { binance: () => ({ balances: [] }) },
      {
        storeTimeoutMs: 5_000,
      },
    )
    const listDue = store.listDue.bind(store)
    let hang = true
    store.listDue = (...args) => {
      if (hang && args[2]?.exchange === 'binance') return new Promise(() => {})
      return listDue(...args)
    }
    let report: unknown
    void scheduler.runOnce().then((value) => {
      report = value
    })
    await clock.advance(5_000)
    expect(report).toMatchObject({ attempted: 0 })
    hang = false
    await scheduler.runOnce()
    expect(adapter('binance').calls).toHaveLength(2)
  })
})

describe('verifyCredentials', () => {
  const draft = (exchange: string): Connection => freshConnection('draft', { userId: 'u', exchange })

  it("obeys the exchange's own cap and the global cap", async () => {
    const release = deferred<FetchBalancesResult>()
    const { clock, scheduler, connections, adapter } = await setup(
      { binance: 1 },
      { binance: ({ connection }) => (connection.id === 'draft' ? { balances: [] } : release.promise) },
      { limits: { binance: { budgets: [], concurrency: 1 } } },
    )
    void scheduler.syncNow(((connections.binance as Connection[])[0] as Connection).id)
    await clock.advance(0)
    let verified: unknown
    void scheduler.verifyCredentials({ connection: draft('binance'), credentials: keys('new') }).then((value) => {
      verified = value
    })
    await clock.advance(1_000)
    expect(adapter('binance').calls).toHaveLength(1)
    expect(adapter('binance').maxInFlight).toBe(1)
    release.resolve({ balances: [] })
    await clock.advance(0)
    expect(verified).toMatchObject({ ok: true })
    expect(adapter('binance').maxInFlight).toBe(1)
  })

  it('spends the budget like a sync', async () => {
    const { clock, scheduler, adapter } = await setup(
      {},
      { binance: () => ({ balances: [] }) },
      {
        limits: { binance: { cost: 1, budgets: [{ scope: 'exchange', limit: 1, windowMs: 10_000 }] } },
        timeoutMs: 60_000,
      },
    )
    await scheduler.verifyCredentials({ connection: draft('binance'), credentials: keys(1) })
    let second: unknown
    void scheduler.verifyCredentials({ connection: draft('binance'), credentials: keys(2) }).then((value) => {
      second = value
    })
    await clock.advance(9_000)
    expect(second).toBeUndefined()
    expect(adapter('binance').calls).toHaveLength(1)
    await clock.advance(1_000)
    expect(second).toMatchObject({ ok: true })
  })
})

describe('a budget shared with another consumer', () => {
  it('a connection refused by the shared budget keeps its failure count and goes again when the pause ends', async () => {
    let refused = 0
    const starts: number[] = []
    const { store, clock, scheduler, connections } = await setup(
      { binance: 1 },
      {
        binance: () => {
          starts.push(clock.now())
          if (refused++ === 0) throw new SyncError('RATE_LIMITED', '429', { retryAfterMs: 5_000, scope: 'exchange' })
          return { balances: [] }
        },
      },
    )
    const t0 = clock.now()
    const report = scheduler.runOnce()
    await clock.advance(5_000)
    expect(await report).toMatchObject({ attempted: 1, succeeded: 1, failed: 0 })
    expect(starts).toEqual([t0, t0 + 5_000])
    const stored = (await store.get(((connections.binance as Connection[])[0] as Connection).id)) as Connection
    expect(stored).toMatchObject({ failureCount: 0, lastError: null })
  })

  it('clock-aligned windows learn weight spent outside from usedWeight: 0 x 429 at 20 % and 40 % outside', async () => {
    for (const share of [0.2, 0.4]) {
      const result = await sharedBudgetRun(share)
      expect(result.tooMany).toBe(0)
      // Every whole window: at least 97 % of what the other consumer leaves is used, and never its share.
      expect(result.full.length).toBeGreaterThan(3)
      for (const own of result.full) {
        expect(own).toBeLessThanOrEqual(result.left)
        expect(own).toBeGreaterThanOrEqual(0.97 * result.left)
      }
    }
  })
})

/**
 * An exchange counting weight per clock-aligned second (limit 100), with another consumer of the same budget
 * spending `share` of each window evenly, visible only through each response's used-weight count.
 */
async function sharedBudgetRun(share: number) {
  const windowMs = 1_000
  const limit = 100
  const cost = 5
  // Started mid-window, as a host restarts while its trading bot runs: the first answers show the bot's pace.
  const clock = new FakeClock(Date.UTC(2026, 0, 1) + 400)
  const windows = new Map<number, number>()
  const outsideSpent = new Map<number, number>()
  const ownByWindow = new Map<number, number>()
  let tooMany = 0
  let ownWeight = 0
  const countOutside = (now: number) => {
    const window = Math.floor(now / windowMs)
    const due = Math.floor(((now % windowMs) / windowMs) * share * limit)
    const spent = outsideSpent.get(window) ?? 0
    if (due > spent) {
      windows.set(window, (windows.get(window) ?? 0) + due - spent)
      outsideSpent.set(window, due)
    }
    return window
  }
  const adapter: ExchangeAdapter = {
    id: 'binance',
    async fetchBalances() {
      const window = countOutside(clock.now())
      const used = (windows.get(window) ?? 0) + cost
      if (used > limit) {
        tooMany++
        throw new SyncError('RATE_LIMITED', '429', {
          retryAfterMs: windowMs - (clock.now() % windowMs),
          scope: 'exchange',
        })
      }
      windows.set(window, used)
      ownWeight += cost
      ownByWindow.set(window, (ownByWindow.get(window) ?? 0) + cost)
      await after(clock, 20)
      return { balances: [], usage: { usedWeight: used } }
    },
  }
  const store = new MemoryStore()
  for (let n = 0; n < 300; n++) await store.add({ userId: `u${n}`, exchange: 'binance', credentials: keys(n) })
  const scheduler = new SyncScheduler({
    store,
    clock,
    exchanges: [adapter],
    concurrency: 5,
    limits: { binance: { cost, budgets: [{ scope: 'exchange', limit, windowMs, align: 'clock' }] } },
  })
  const seconds = 10
  void scheduler.runOnce()
  await clock.advance(seconds * windowMs)
  const stopped = scheduler.stop({ timeoutMs: 1_000 })
  await clock.advance(1_000)
  await stopped
  // Whole windows only: the first starts mid-window, the last may end the sweep.
  const full = [...ownByWindow.values()].slice(1, -1)
  return { tooMany, ownWeight, leftOver: seconds * limit * (1 - share), full, left: limit * (1 - share) }
}

describe('an asynchronous limiter', () => {
  it('is awaited without holding a slot: another exchange uses every slot meanwhile', async () => {
    const clock = new FakeClock()
    const settled: string[] = []
    const limiter: SyncLimiter = {
      acquire: (request: LimitRequest): LimitDecision | Promise<LimitDecision> => {
        const permit = { exchange: request.exchange, connectionId: request.connectionId }
        // Exchange `a` lives in a slow shared store: each answer takes a second.
        if (request.exchange === 'a') return after(clock, 1_000).then(() => ({ granted: true as const, permit }))
        return { granted: true, permit }
      },
      settle: (permit) => {
        settled.push(permit.exchange)
        return Promise.resolve(undefined)
      },
      stats: () => ({ budgetLeft: null, pausedUntil: null, pausedAccounts: 0 }),
    }
    const { scheduler, adapter } = await setup(
      { a: 2, b: 10 },
      { a: () => ({ balances: [] }), b: () => after(clock, 100).then(() => ({ balances: [] })) },
      { concurrency: 2, limiter, clock },
    )
    const report = scheduler.runOnce()
    await clock.advance(550)
    // While `a` waits for its limiter, `b` has both slots: ten 100 ms syncs in half a second.
    expect(adapter('b').maxInFlight).toBe(2)
    expect(adapter('b').calls).toHaveLength(10)
    expect(adapter('a').calls).toHaveLength(0)
    await clock.advance(2_000)
    expect(await report).toMatchObject({ attempted: 12, succeeded: 12 })
    expect(settled.filter((exchange) => exchange === 'a')).toHaveLength(2)
  })
  it('stalls nothing when it never answers: the lane asks again, and a grant that comes late is given back', async () => {
    const clock = new FakeClock()
    const late = deferred<LimitDecision>()
    const settled: { exchange: string; result: string }[] = []
    let asked = 0
    const limiter: SyncLimiter = {
      acquire: (request: LimitRequest): LimitDecision | Promise<LimitDecision> => {
        const permit = { exchange: request.exchange, connectionId: request.connectionId }
        // The first answer is lost (a shared store that went away); later ones come at once.
        if (asked++ === 0) return late.promise
        return Promise.resolve({ granted: true as const, permit })
      },
      settle: (permit, settlement) => {
        settled.push({ exchange: permit.exchange, result: settlement.result })
        return undefined
      },
      stats: () => ({ budgetLeft: null, pausedUntil: null, pausedAccounts: 0 }),
    }
    const { scheduler, adapter, connections } = await setup(
      { a: 1 },
      { a: () => ({ balances: [] }) },
      { limiter, clock },
    )
    const errors: Error[] = []
    scheduler.on('error', (error) => errors.push(error))
    const outcome = scheduler.syncNow((connections.a as Connection[])[0]?.id as string)
    await clock.advance(9_000)
    expect(adapter('a').calls).toHaveLength(0)
    await clock.advance(3_000)
    expect(await outcome).toMatchObject({ ok: true })
    expect(adapter('a').calls).toHaveLength(1)
    expect(errors.map((error) => error.message)).toEqual([expect.stringContaining('did not answer for exchange "a"')])
    // The lost answer turns up after all: its grant is given back unused, and nothing runs twice.
    late.resolve({ granted: true, permit: { exchange: 'a', connectionId: 'late' } })
    await clock.advance(10)
    expect(settled).toEqual([
      { exchange: 'a', result: 'ok' },
      { exchange: 'a', result: 'failed' },
    ])
    expect(adapter('a').calls).toHaveLength(1)
  })
})

describe('an exchange that refuses the whole server', () => {
  it('pauses the exchange, fails no connection, and warns once per pause', async () => {
    let refuse = true
    const { store, clock, scheduler, connections } = await setup(
      { binance: 3 },
      {
        binance: () => {
          if (refuse) {
            throw new SyncError('EXCHANGE_UNAVAILABLE', '451: restricted location', {
              scope: 'exchange',
              retryAfterMs: 600_000,
            })
          }
          return { balances: [] }
        },
      },
      { concurrency: 1 },
    )
    const warnings: WarningEvent[] = []
    scheduler.on('warning', (warning) => warnings.push(warning))
    const now = clock.now()
    void scheduler.runOnce()
    await clock.advance(1_000)
    expect(scheduler.stats().exchanges.binance?.pausedUntil).toBe(now + 600_000)
    for (const connection of connections.binance as Connection[]) {
      expect(await store.get(connection.id)).toMatchObject({ status: 'active', failureCount: 0, lastError: null })
    }
    expect(warnings).toEqual([expect.objectContaining({ code: 'EXCHANGE_PAUSED', exchange: 'binance' })])
    refuse = false
    await clock.advance(600_000)
    await scheduler.runOnce()
    for (const connection of connections.binance as Connection[]) {
      expect((await store.get(connection.id))?.lastSyncAt).not.toBeNull()
    }
  })
})

describe('account-scope budgets', () => {
  it('are kept per exchange account: two keys of one OKX user share one budget once the adapter reports it', async () => {
    const starts: Array<{ id: string; at: number }> = []
    const { clock, scheduler, connections } = await setup(
      { okx: 2 },
      {
        okx: ({ connection }) => {
          starts.push({ id: connection.id, at: clock.now() })
          return { balances: [], accountId: 'uid-777' }
        },
      },
      { limits: { okx: { cost: 1, budgets: [{ scope: 'account', limit: 1, windowMs: 10_000 }] } } },
    )
    const [a, b] = connections.okx as [Connection, Connection]
    // The first syncs learn the account; each key had its own window until then.
    await scheduler.syncNow(a.id)
    await scheduler.syncNow(b.id)
    starts.length = 0
    const t0 = clock.now()
    await scheduler.syncNow(a.id)
    const next = scheduler.syncNow(b.id)
    await clock.advance(0)
    // One call per account per 10 s: the second key of the same account waits for the shared window.
    expect(starts).toHaveLength(1)
    await clock.advance(10_000)
    await next
    expect(starts.map((start) => start.at - t0)).toEqual([0, 10_000])
  })
})
