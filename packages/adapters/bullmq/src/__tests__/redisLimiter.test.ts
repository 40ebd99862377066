import { createServer, type Server, type Socket } from 'node:net'
import {
  BudgetLimiter,
  InvalidOptionError,
  type LimitDecision,
  type LimitPermit,
  type LimitSettlement,
  MemoryStore,
  type ResolvedLimits,
  resolveLimits,
  type SyncOutcome,
  SyncScheduler,
} from '@syncfolio/core'
import { recordingAdapter } from '@syncfolio/testing'
import { type RedisServer, startRedis } from '@syncfolio/testing/services'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { RedisLimiter, RedisLimiterError, type RedisLimiterOptions } from '../limiter/index.js'
import { parseReply } from '../limiter/scriptReply.js'

const T0 = 1_700_000_000_000
const MINUTE = 60_000

type Budget = ResolvedLimits['budgets'][number]
const limitsOf = (cost: number, ...budgets: Budget[]): ResolvedLimits => ({
  cost,
  budgets,
  concurrency: Number.POSITIVE_INFINITY,
})
const slidingExchange = (limit: number, windowMs = MINUTE): Budget => ({ scope: 'exchange', limit, windowMs })
const clockExchange = (limit: number, windowMs = MINUTE): Budget => ({
  scope: 'exchange',
  limit,
  windowMs,
  align: 'clock',
})
const account = (limit: number, windowMs = 2_000, align: Budget['align'] = 'sliding'): Budget => ({
  scope: 'account',
  limit,
  windowMs,
  align,
})

let server: RedisServer
const clients: Redis[] = []
let prefixes = 0

beforeAll(async () => {
  // Throws (never skips) when there is no redis-server: these tests are the limiter's only proof.
  server = await startRedis()
})
afterEach(() => {
  for (const client of clients.splice(0)) client.disconnect()
})
afterAll(async () => {
  await server?.stop()
})

function client(port = server.port): Redis {
  const redis = new Redis({ port, host: '127.0.0.1' })
  // A server stopped on purpose: the limiter reports through onError; the client's own retries are not news.
  redis.on('error', () => {})
  clients.push(redis)
  return redis
}

/** A fresh key prefix per test, so tests share the server and nothing else. */
function freshPrefix(): string {
  prefixes++
  return `test${prefixes}`
}

/** Limiter instances on one prefix, each on a client of its own, as separate processes would have. */
function cluster(limits: Record<string, ResolvedLimits>, options: Partial<RedisLimiterOptions> = {}) {
  const prefix = options.prefix ?? freshPrefix()
  const map = new Map(Object.entries(limits))
  const errors: RedisLimiterError[] = []
  const make = (more: Partial<RedisLimiterOptions> = {}) =>
    new RedisLimiter({
      redis: client(),
      limits: map,
      onError: (error) => errors.push(error),
      ...options,
      ...more,
      prefix,
    })
  return { make, prefix, errors, map, admin: client() }
}

/** A decision without its permit: what a BudgetLimiter and a RedisLimiter must agree on. */
function shape(decision: LimitDecision) {
  return decision.granted ? { granted: true } : decision
}

describe('parity with BudgetLimiter', () => {
  const limits = {
    sliding: limitsOf(20, slidingExchange(200)),
    clock: limitsOf(20, clockExchange(400)),
    accounts: limitsOf(1, account(10)),
    mixed: limitsOf(3, slidingExchange(60, 10_000), account(7, 5_000, 'clock')),
    open: limitsOf(1),
  }

  it('answers every acquire and settle of a long scripted run exactly as the in-process limiter', async () => {
    const { make, errors } = cluster(limits)
    const redisLimiter = make()
    const core = new BudgetLimiter(new Map(Object.entries(limits)))
    let seed = 11
    const random = () => {
      seed = (seed * 48_271) % 2_147_483_647
      return seed / 2_147_483_647
    }
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T
    const exchanges = Object.keys(limits)
    const held: Array<{ redis: LimitPermit; core: LimitPermit; exchange: string }> = []
    const ours: unknown[] = []
    const theirs: unknown[] = []
    const seen = { grant: 0, budget: 0, exchangePause: 0, accountPause: 0, usedWeight: 0 }
    let now = T0
    for (let step = 0; step < 1_500; step++) {
      now += random() < 0.05 ? Math.floor(random() * 70_000) : Math.floor(random() * 400)
      if (held.length > 0 && random() < 0.45) {
        const [permit] = held.splice(Math.floor(random() * held.length), 1)
        if (!permit) continue
        const roll = random()
        const settlement: LimitSettlement =
          roll < 0.45
            ? { now, result: 'ok' }
            : roll < 0.75
              ? { now, result: 'ok', usedWeight: pick([0, 15, 120, 250, 333.5, 390, 1_000, -4, Number.NaN]) }
              : roll < 0.9
                ? {
                    now,
                    result: 'rate-limited',
                    scope: pick(['exchange', 'account', undefined] as const),
                    retryAfterMs: pick([undefined, 1_500, 12_000, Number.NaN, -1, Number.POSITIVE_INFINITY]),
                  }
                : { now, result: 'failed', usedWeight: pick([undefined, 200]) }
        if (settlement.usedWeight !== undefined) seen.usedWeight++
        const label = `step ${step}: settle ${permit.exchange} ${JSON.stringify(settlement)}`
        ours.push([label, await redisLimiter.settle(permit.redis, settlement)])
        theirs.push([label, core.settle(permit.core, settlement)])
        if (settlement.usedWeight !== undefined && Number.isFinite(settlement.usedWeight)) {
          // The in-process stats roll clock windows; ask only where the settlement rolled them already.
          ours.push([`${label}: stats`, redisLimiter.stats(permit.exchange, now)])
          theirs.push([`${label}: stats`, core.stats(permit.exchange, now)])
        }
        continue
      }
      const exchange = pick(exchanges)
      const connectionId = `c${Math.floor(random() * 6)}`
      const request = { exchange, connectionId, account: random() < 0.2 ? 'shared-account' : undefined, now }
      const fromRedis = await redisLimiter.acquire(request)
      const fromCore = core.acquire(request)
      const label = `step ${step}: acquire ${JSON.stringify(request)}`
      ours.push([label, shape(fromRedis)])
      theirs.push([label, shape(fromCore)])
      if (fromRedis.granted && fromCore.granted) {
        seen.grant++
        held.push({ redis: fromRedis.permit, core: fromCore.permit, exchange })
      }
      if (!fromCore.granted && fromCore.reason === 'retry-after')
        seen[fromCore.scope === 'exchange' ? 'exchangePause' : 'accountPause']++
      if (!fromCore.granted && fromCore.reason === 'budget') seen.budget++
      if (fromCore.granted || fromCore.reason === 'budget') {
        ours.push([`${label}: stats`, redisLimiter.stats(exchange, now)])
        theirs.push([`${label}: stats`, core.stats(exchange, now)])
      }
    }
    expect(ours).toEqual(theirs)
    expect(errors).toEqual([])
    // The run went through every kind of answer, so agreeing meant something.
    expect(seen.grant).toBeGreaterThan(100)
    expect(seen.budget).toBeGreaterThan(50)
    expect(seen.exchangePause).toBeGreaterThan(20)
    expect(seen.accountPause).toBeGreaterThan(3)
    expect(seen.usedWeight).toBeGreaterThan(30)
  })

  it('frees sliding weight exactly one window after it was spent, as SlidingWindow', async () => {
    const { make } = cluster({ x: limitsOf(2, slidingExchange(10, 1_000)) })
    const limiter = make()
    const at = async (offset: number) =>
      shape(await limiter.acquire({ exchange: 'x', connectionId: 'a', now: T0 + offset }))
    for (const offset of [0, 1, 2, 3, 400]) expect(await at(offset)).toEqual({ granted: true })
    expect(await at(500)).toEqual({ granted: false, retryAt: T0 + 1_000, scope: 'exchange', reason: 'budget' })
    expect(await at(999)).toEqual({ granted: false, retryAt: T0 + 1_000, scope: 'exchange', reason: 'budget' })
    expect(await at(1_000)).toEqual({ granted: true })
    expect(limiter.stats('x', T0 + 1_000)).toMatchObject({ budgetLeft: 0 })
  })

  it('keeps headroom for weight spent outside, learned from usedWeight, in a clock window', async () => {
    const limits = { binance: limitsOf(20, clockExchange(6_000)) }
    const { make } = cluster(limits)
    const redisLimiter = make()
    const core = new BudgetLimiter(new Map(Object.entries(limits)))
    // Another client of the same IP spends 100 weight a second; every response reports the exchange's count.
    const start = Math.ceil(T0 / MINUTE) * MINUTE
    let outside = 0
    let own = 0
    const ours: unknown[] = []
    const theirs: unknown[] = []
    for (let ms = 0; ms < 2 * MINUTE; ms += 250) {
      const now = start + ms
      if (ms % MINUTE === 0) {
        outside = 0
        own = 0
      }
      outside = Math.floor(((ms % MINUTE) / 1_000) * 100)
      const request = { exchange: 'binance', connectionId: `c${ms}`, now }
      const a = await redisLimiter.acquire(request)
      const b = core.acquire(request)
      ours.push(shape(a))
      theirs.push(shape(b))
      if (a.granted && b.granted) {
        own += 20
        const settlement = { now: now + 50, result: 'ok' as const, usedWeight: own + outside }
        ours.push(await redisLimiter.settle(a.permit, settlement))
        theirs.push(core.settle(b.permit, settlement))
      }
    }
    expect(ours).toEqual(theirs)
    const grants = ours.filter((entry) => (entry as { granted?: boolean })?.granted === true).length
    // Without headroom it would take the whole budget: 300 grants in the first minute alone.
    expect(grants).toBeGreaterThan(20)
    expect(grants).toBeLessThan(300)
  })
})

describe('shared by every worker', () => {
  it('never grants more than the budget to instances racing on separate clients', async () => {
    const { make } = cluster({
      sliding: limitsOf(1, slidingExchange(50), account(3)),
      clock: limitsOf(2, clockExchange(50)),
    })
    const limiters = Array.from({ length: 8 }, () => make())
    const race = (exchange: string) =>
      Promise.all(
        Array.from({ length: 400 }, (_, n) =>
          (limiters[n % 8] as RedisLimiter).acquire({ exchange, connectionId: `c${n % 20}`, now: T0 + (n % 5) }),
        ),
      )
    const sliding = await race('sliding')
    const granted = sliding.filter((decision) => decision.granted)
    expect(granted).toHaveLength(50)
    const perAccount = new Map<string, number>()
    for (const decision of granted) {
      const id = decision.granted ? decision.permit.connectionId : ''
      perAccount.set(id, (perAccount.get(id) ?? 0) + 1)
    }
    expect(Math.max(...perAccount.values())).toBeLessThanOrEqual(3)
    expect((await race('clock')).filter((decision) => decision.granted)).toHaveLength(25)
  })

  it('keeps one clock window when a worker whose clock runs behind asks across the boundary', async () => {
    const { make } = cluster({ binance: limitsOf(1, clockExchange(2)) })
    const [ahead, behind] = [make(), make()]
    const boundary = Math.ceil(T0 / MINUTE) * MINUTE
    const answers = [
      await ahead.acquire({ exchange: 'binance', connectionId: 'a', now: boundary + 5 }),
      await behind.acquire({ exchange: 'binance', connectionId: 'b', now: boundary - 3 }),
      await ahead.acquire({ exchange: 'binance', connectionId: 'c', now: boundary + 6 }),
      await behind.acquire({ exchange: 'binance', connectionId: 'd', now: boundary - 2 }),
    ]
    // Rolling the shared window back and forth would hand out a fresh budget at every turn.
    expect(answers.map((decision) => decision.granted)).toEqual([true, true, false, false])
    expect(answers[2]).toMatchObject({ retryAt: boundary + MINUTE, reason: 'budget' })
  })

  it('charges nothing to the exchange budget when the account budget refuses', async () => {
    const { make } = cluster({ okx: limitsOf(1, slidingExchange(100), account(2)) })
    const [one, other] = [make(), make()]
    for (const now of [T0, T0 + 1])
      expect((await one.acquire({ exchange: 'okx', connectionId: 'a', now })).granted).toBe(true)
    for (let n = 0; n < 5; n++) {
      expect(await one.acquire({ exchange: 'okx', connectionId: 'a', now: T0 + 2 + n })).toEqual({
        granted: false,
        retryAt: T0 + 2_000,
        scope: 'account',
        reason: 'budget',
      })
    }
    expect(one.stats('okx', T0 + 10).budgetLeft).toBe(98)
    expect((await other.acquire({ exchange: 'okx', connectionId: 'b', now: T0 + 10 })).granted).toBe(true)
    expect(other.stats('okx', T0 + 10).budgetLeft).toBe(97)
  })

  it('pauses a scope for every instance when one settles a Retry-After', async () => {
    const { make } = cluster({ binance: limitsOf(20, clockExchange(6_000)), okx: limitsOf(1, account(10)) })
    const [one, other] = [make(), make()]
    const granted = await one.acquire({ exchange: 'binance', connectionId: 'a', now: T0 })
    if (!granted.granted) throw new Error('expected a grant')
    expect(
      await one.settle(granted.permit, { now: T0, result: 'rate-limited', retryAfterMs: 30_000, scope: 'exchange' }),
    ).toEqual({ pausedUntil: T0 + 30_000 })
    expect(await other.acquire({ exchange: 'binance', connectionId: 'b', now: T0 + 29_999 })).toEqual({
      granted: false,
      retryAt: T0 + 30_000,
      scope: 'exchange',
      reason: 'retry-after',
    })
    expect(other.stats('binance', T0 + 29_999).pausedUntil).toBe(T0 + 30_000)
    expect((await other.acquire({ exchange: 'binance', connectionId: 'b', now: T0 + 30_000 })).granted).toBe(true)

    const okx = await one.acquire({ exchange: 'okx', connectionId: 'x', account: 'uid-1', now: T0 })
    if (!okx.granted) throw new Error('expected a grant')
    await one.settle(okx.permit, { now: T0, result: 'rate-limited', retryAfterMs: 10_000, scope: 'account' })
    // Another connection of the same exchange account is paused too; another account is not.
    expect(await other.acquire({ exchange: 'okx', connectionId: 'y', account: 'uid-1', now: T0 + 1 })).toEqual({
      granted: false,
      retryAt: T0 + 10_000,
      scope: 'account',
      reason: 'retry-after',
    })
    expect((await other.acquire({ exchange: 'okx', connectionId: 'z', now: T0 + 1 })).granted).toBe(true)
    expect(other.stats('okx', T0 + 1)).toEqual({ budgetLeft: null, pausedUntil: null, pausedAccounts: 1 })
  })

  it("re-aligns the count another instance sees from one instance's usedWeight", async () => {
    const { make } = cluster({ binance: limitsOf(20, slidingExchange(6_000)) })
    const [one, other] = [make(), make()]
    const granted = await one.acquire({ exchange: 'binance', connectionId: 'a', now: T0 })
    if (!granted.granted) throw new Error('expected a grant')
    await one.settle(granted.permit, { now: T0 + 50, result: 'ok', usedWeight: 5_900 })
    expect(one.stats('binance', T0 + 50).budgetLeft).toBe(100)
    for (let n = 0; n < 5; n++)
      expect((await other.acquire({ exchange: 'binance', connectionId: `c${n}`, now: T0 + 100 })).granted).toBe(true)
    expect(await other.acquire({ exchange: 'binance', connectionId: 'c9', now: T0 + 100 })).toMatchObject({
      granted: false,
      retryAt: T0 + MINUTE,
    })
  })

  it('keeps exchange budgets and pauses per egress, and account budgets across egresses', async () => {
    const { make } = cluster({ okx: limitsOf(1, slidingExchange(4), account(3)) })
    const [first, second] = [make({ egress: 'ip-1' }), make({ egress: 'ip-2' })]
    const grants = { first: 0, second: 0 }
    for (let n = 0; n < 10; n++) {
      if ((await first.acquire({ exchange: 'okx', connectionId: `f${n}`, now: T0 })).granted) grants.first++
      if ((await second.acquire({ exchange: 'okx', connectionId: `s${n}`, now: T0 })).granted) grants.second++
    }
    expect(grants).toEqual({ first: 4, second: 4 })
    // One account: three calls in its window, wherever they leave from.
    const later = T0 + 2 * MINUTE
    const shared = [first, second, first, second, first]
    const answers = []
    for (const limiter of shared)
      answers.push((await limiter.acquire({ exchange: 'okx', connectionId: 'u', account: 'uid', now: later })).granted)
    expect(answers).toEqual([true, true, true, false, false])
    // A 429 on one IP pauses that IP only.
    const permit = await first.acquire({ exchange: 'okx', connectionId: 'p', now: later })
    if (!permit.granted) throw new Error('expected a grant')
    await first.settle(permit.permit, { now: later, result: 'rate-limited', retryAfterMs: 5_000 })
    expect(
      await make({ egress: 'ip-1' }).acquire({ exchange: 'okx', connectionId: 'q', now: later + 1 }),
    ).toMatchObject({
      granted: false,
      reason: 'retry-after',
      scope: 'exchange',
    })
    expect((await second.acquire({ exchange: 'okx', connectionId: 'q', now: later + 1 })).granted).toBe(true)
  })
})

describe('behind the core dispatcher', () => {
  it('keeps one exchange budget for two schedulers, each with its own store and limiter', async () => {
    const given = { cost: 20, budgets: [{ scope: 'exchange' as const, limit: 120, windowMs: MINUTE }] }
    const { make } = cluster({ binance: resolveLimits('binance', given) })
    const adapters = [recordingAdapter('binance'), recordingAdapter('binance')]
    const schedulers: SyncScheduler[] = []
    const ids: string[][] = []
    for (const adapter of adapters) {
      const store = new MemoryStore()
      const scheduler = new SyncScheduler({
        store,
        exchanges: [adapter],
        limits: { binance: given },
        limiter: make(),
        // A manual sync that would wait past this for the budget is answered RATE_LIMITED at once.
        timeoutMs: 5_000,
      })
      schedulers.push(scheduler)
      const mine: string[] = []
      for (let n = 0; n < 5; n++) {
        mine.push(
          (await store.add({ userId: `u${n}`, exchange: 'binance', credentials: { apiKey: `k${n}`, secret: 's' } })).id,
        )
      }
      ids.push(mine)
    }
    try {
      const outcomes: SyncOutcome[] = await Promise.all(
        schedulers.flatMap((scheduler, index) => (ids[index] as string[]).map((id) => scheduler.syncNow(id))),
      )
      // 120 weight at 20 a sync: six syncs between both, the other four refused by the shared budget.
      expect(outcomes.filter((outcome) => outcome.ok)).toHaveLength(6)
      const refused = outcomes.filter((outcome) => !outcome.ok)
      expect(refused.map((outcome) => (outcome.ok ? '' : `${outcome.error.code}/${outcome.error.scope}`))).toEqual(
        Array(4).fill('RATE_LIMITED/exchange'),
      )
      expect((adapters[0]?.calls.length ?? 0) + (adapters[1]?.calls.length ?? 0)).toBe(6)
    } finally {
      await Promise.all(schedulers.map((scheduler) => scheduler.stop({ timeoutMs: 0 })))
    }
  })
})

describe('pauses', () => {
  it('falls back to the doubling backoff for a NaN, negative or Infinity retryAfterMs, as in process', async () => {
    const limits = { binance: limitsOf(20, clockExchange(6_000)) }
    const { make } = cluster(limits)
    const limiter = make()
    const core = new BudgetLimiter(new Map(Object.entries(limits)))
    const permit = { exchange: 'binance', connectionId: 'a' }
    const waits: number[] = []
    const coreWaits: number[] = []
    for (const [n, retryAfterMs] of [Number.NaN, -1_000, Number.POSITIVE_INFINITY, undefined].entries()) {
      const now = T0 + n * 10_000_000
      const settlement: LimitSettlement = { now, result: 'rate-limited', retryAfterMs }
      waits.push(((await limiter.settle(permit, settlement))?.pausedUntil as number) - now)
      coreWaits.push((core.settle(permit, settlement)?.pausedUntil as number) - now)
    }
    expect(waits).toEqual([5_000, 10_000, 20_000, 40_000])
    expect(waits).toEqual(coreWaits)
    // A success after the pause forgets the strikes.
    await limiter.settle(permit, { now: T0 + 50_000_000, result: 'ok' })
    expect((await limiter.settle(permit, { now: T0 + 60_000_000, result: 'rate-limited' }))?.pausedUntil).toBe(
      T0 + 60_005_000,
    )
  })

  it('cuts a Retry-After longer than maxPauseMs to it', async () => {
    const { make } = cluster({ binance: limitsOf(20, clockExchange(6_000)) }, { maxPauseMs: 600_000 })
    const settled = await make().settle(
      { exchange: 'binance', connectionId: 'a' },
      { now: T0, result: 'rate-limited', retryAfterMs: 7 * 86_400_000 },
    )
    expect(settled).toEqual({ pausedUntil: T0 + 600_000 })
  })
})

describe('Redis memory', () => {
  it('gives every key a TTL that follows what the key still says', async () => {
    const { make, prefix, admin } = cluster(
      {
        binance: limitsOf(20, clockExchange(6_000), account(100, 10_000)),
        okx: limitsOf(1, slidingExchange(10, 2_000)),
      },
      { idleTtlMs: 3_600_000 },
    )
    const limiter = make()
    const granted = await limiter.acquire({ exchange: 'binance', connectionId: 'a', account: 'uid{x}:y', now: T0 })
    if (!granted.granted) throw new Error('expected a grant')
    await limiter.settle(granted.permit, { now: T0 + 10, result: 'ok', usedWeight: 2_000 })
    await limiter.settle(granted.permit, {
      now: T0 + 20,
      result: 'rate-limited',
      scope: 'account',
      retryAfterMs: 9_000,
    })
    await limiter.acquire({ exchange: 'okx', connectionId: 'b', now: T0 })
    const keys = (await admin.keys(`${prefix}:*`)).sort()
    const ttl = new Map(await Promise.all(keys.map(async (key) => [key, await admin.pttl(key)] as const)))
    expect([...ttl.values()].every((ms) => ms > 0)).toBe(true)
    const find = (part: string) => [...ttl.entries()].find(([key]) => key.includes(part)) ?? ['missing', -2]
    // Every key of one exchange shares its hash tag; an account id cannot end it early.
    expect(keys.filter((key) => key.includes('{binance}'))).toHaveLength(keys.length - 2)
    expect(keys.every((key) => !key.includes('uid{x}'))).toBe(true)
    // The clock window learned outside weight: kept while idle. The account window: until its window ends.
    expect(find(':budget:0:clock:60000:egress:default')[1]).toBeGreaterThan(3_500_000)
    expect(find(':budget:1:sliding:10000:account:')[1]).toBeLessThanOrEqual(10_000)
    // The pause: its length and the longest backoff after it; the index of paused accounts: the pause.
    expect(find(':pause:account:')[1]).toBeLessThanOrEqual(9_000 + 300_000)
    expect(find(':pause:account:')[1]).toBeGreaterThan(9_000)
    expect(find(':paused-accounts')[1]).toBeLessThanOrEqual(9_000)
    expect(find('{okx}:budget:0:sliding:2000:egress:default:log')[1]).toBeLessThanOrEqual(2_000)
  })
})

describe('when Redis fails', () => {
  it('refuses for a moment and pauses locally when Redis stops mid-run, and never throws', async () => {
    const own = await startRedis()
    const errors: RedisLimiterError[] = []
    const redis = client(own.port)
    const limiter = new RedisLimiter({
      redis,
      limits: new Map([['binance', limitsOf(20, clockExchange(6_000))]]),
      commandTimeoutMs: 300,
      onError: (error) => errors.push(error),
    })
    try {
      const granted = await limiter.acquire({ exchange: 'binance', connectionId: 'a', now: T0 })
      expect(granted.granted).toBe(true)
      await own.stop()
      expect(await limiter.acquire({ exchange: 'binance', connectionId: 'b', now: T0 + 1 })).toEqual({
        granted: false,
        retryAt: T0 + 1 + 1_000,
        scope: 'exchange',
        reason: 'retry-after',
      })
      expect(errors.length).toBeGreaterThan(0)
      expect(errors.every((error) => error instanceof RedisLimiterError)).toBe(true)
      expect(errors.map((error) => error.code)).toSatisfy((codes: string[]) =>
        codes.every((code) => code === 'REDIS_FAILED' || code === 'REDIS_TIMEOUT'),
      )
      // Settling never rejects; a rate limit still pauses this process.
      if (!granted.granted) throw new Error('expected a grant')
      expect(await limiter.settle(granted.permit, { now: T0 + 2, result: 'ok', usedWeight: 40 })).toBeUndefined()
      expect(
        await limiter.settle(granted.permit, { now: T0 + 3, result: 'rate-limited', retryAfterMs: 20_000 }),
      ).toEqual({ pausedUntil: T0 + 20_003 })
      expect(await limiter.acquire({ exchange: 'binance', connectionId: 'c', now: T0 + 4 })).toEqual({
        granted: false,
        retryAt: T0 + 20_003,
        scope: 'exchange',
        reason: 'retry-after',
      })
      expect(limiter.stats('binance', T0 + 4)).toEqual({
        budgetLeft: 5_980,
        pausedUntil: T0 + 20_003,
        pausedAccounts: 0,
      })
    } finally {
      await own.stop()
    }
  })

  it('refuses at the deadline when Redis accepts the connection and never answers', async () => {
    const sockets: Socket[] = []
    const silent: Server = createServer((socket) => sockets.push(socket))
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const port = (silent.address() as { port: number }).port
    const errors: RedisLimiterError[] = []
    const limiter = new RedisLimiter({
      redis: client(port),
      limits: new Map([['okx', limitsOf(1, account(10))]]),
      commandTimeoutMs: 200,
      unavailableRetryMs: 750,
      onError: (error) => errors.push(error),
    })
    try {
      expect(await limiter.acquire({ exchange: 'okx', connectionId: 'a', now: T0 })).toEqual({
        granted: false,
        retryAt: T0 + 750,
        scope: 'exchange',
        reason: 'retry-after',
      })
      expect(await limiter.settle({ exchange: 'okx', connectionId: 'a' }, { now: T0, result: 'ok' })).toBeUndefined()
      expect(errors.map((error) => error.code)).toEqual(['REDIS_TIMEOUT', 'REDIS_TIMEOUT'])
      expect(errors[0]?.message).toContain('did not answer the acquire of okx within 200 ms')
    } finally {
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => silent.close(resolve))
    }
  })

  it('refuses for a moment on a malformed reply, naming the field', async () => {
    const { make, errors } = cluster({ binance: limitsOf(20, clockExchange(6_000)) })
    const limiter = make()
    const redis = clients.at(-1) as Redis
    // The same command name answering nonsense, as a script of another version or a proxy might.
    redis.defineCommand('syncfolioLimiterAcquire', {
      lua: "return {'budget', 'nan', 'exchange', '', '0', '', '', '', ''}",
    })
    expect(await limiter.acquire({ exchange: 'binance', connectionId: 'a', now: T0 })).toEqual({
      granted: false,
      retryAt: T0 + 1_000,
      scope: 'exchange',
      reason: 'retry-after',
    })
    expect(errors.map((error) => [error.code, error.message])).toEqual([
      ['INVALID_REPLY', 'The acquire script answered "nan" for the time; the reply was ignored.'],
    ])
  })

  it('checks every field of a reply', () => {
    const good = ['grant', '', '', '', '0', '12', '960000', '960000', '0']
    expect(parseReply('acquire', good, 1)).toMatchObject({ outcome: 'grant', budgets: [{ used: 12, grantOwn: 0 }] })
    const bad: Array<[unknown, RegExp]> = [
      [good.slice(1), /a reply of 9 fields/],
      [['maybe', ...good.slice(1)], /"maybe" for the outcome/],
      [['grant', '', '', '', '-1', ...good.slice(5)], /for the paused accounts/],
      [['grant', '', '', 'Infinity', '0', ...good.slice(5)], /"Infinity" for the exchange's pause/],
      [['budget', '5', 'planet', '', '0', ...good.slice(5)], /"planet" for the scope/],
      [['grant', '', '', '', '0', 'x', ...good.slice(6)], /"x" for budget 0's count/],
      [['grant', '', '', '', '0', 7, ...good.slice(6)], /7 for field 6/],
    ]
    for (const [reply, message] of bad) {
      expect(() => parseReply('acquire', reply, 1)).toThrow(RedisLimiterError)
      expect(() => parseReply('acquire', reply, 1)).toThrow(message)
    }
    expect(parseReply('acquire', ['budget', 'inf', 'exchange', '', '0', '', '', '', ''], 1).at).toBe(
      Number.POSITIVE_INFINITY,
    )
  })
})

describe('stats', () => {
  it('answers without Redis: the whole budget before any reply, then what the last reply said', async () => {
    const { make } = cluster({
      binance: limitsOf(20, clockExchange(6_000)),
      okx: limitsOf(1, account(10)),
      x: limitsOf(1),
    })
    const limiter = make()
    expect(limiter.stats('binance', T0)).toEqual({ budgetLeft: 6_000, pausedUntil: null, pausedAccounts: 0 })
    expect(limiter.stats('okx', T0)).toEqual({ budgetLeft: null, pausedUntil: null, pausedAccounts: 0 })
    expect(limiter.stats('unknown', T0)).toEqual({ budgetLeft: null, pausedUntil: null, pausedAccounts: 0 })
    const start = Math.floor(T0 / MINUTE) * MINUTE
    await limiter.acquire({ exchange: 'binance', connectionId: 'a', now: start + 1 })
    expect(limiter.stats('binance', start + 2).budgetLeft).toBe(5_980)
    // The clock window rolls over by itself.
    expect(limiter.stats('binance', start + MINUTE).budgetLeft).toBe(6_000)
  })
})

describe('input', () => {
  const base = () => ({ redis: client(), limits: new Map([['binance', limitsOf(20, clockExchange(6_000))]]) })

  it('rejects bad options, naming the field and the value', () => {
    const cases: Array<[unknown, string]> = [
      [{ ...base(), redis: {} }, 'option "redis" is invalid: must be an ioredis client'],
      [{ ...base(), egress: '' }, 'option "egress" is invalid'],
      [{ ...base(), limits: { binance: {} } }, 'option "limits" is invalid: must be a Map'],
      [{ ...base(), commandTimeoutMs: 0 }, 'option "commandTimeoutMs" is invalid'],
      [{ ...base(), rateLimitBackoffMs: 10_000, maxRateLimitBackoffMs: 5_000 }, '"maxRateLimitBackoffMs" is invalid'],
      [
        { ...base(), limits: new Map([['binance', limitsOf(20, clockExchange(10))]]) },
        'limits.binance.budgets.0.limit',
      ],
      [{ ...base(), limits: new Map([['binance', limitsOf(Number.NaN)]]) }, 'option "limits.binance.cost" is invalid'],
      [
        { ...base(), limits: new Map([['b', limitsOf(1, { scope: 'ip', limit: 5, windowMs: 1_000 } as never)]]) },
        'option "limits.b.budgets.0.scope" is invalid',
      ],
      [{ ...base(), unknown: 1 }, 'option "unknown" is invalid: is not an option of RedisLimiter'],
      [null, 'option "(options)" is invalid: must be an object'],
    ]
    for (const [options, message] of cases) {
      expect(() => new RedisLimiter(options as RedisLimiterOptions)).toThrow(InvalidOptionError)
      expect(() => new RedisLimiter(options as RedisLimiterOptions)).toThrow(message)
    }
  })

  it('rejects a malformed acquire, and reports a malformed settlement without throwing', async () => {
    const errors: RedisLimiterError[] = []
    const limiter = new RedisLimiter({ ...base(), onError: (error) => errors.push(error) })
    await expect(limiter.acquire({ exchange: 'binance', connectionId: 'a', now: Number.NaN })).rejects.toThrow(
      '"now" must be a finite number; got NaN',
    )
    await expect(limiter.acquire({ exchange: '', connectionId: 'a', now: T0 })).rejects.toThrow('"exchange"')
    expect(
      await limiter.settle({ exchange: 'binance', connectionId: 'a' }, { now: Number.POSITIVE_INFINITY, result: 'ok' }),
    ).toBeUndefined()
    expect(
      await limiter.settle({ exchange: 'binance', connectionId: 'a' }, { now: T0, result: 'maybe' as never }),
    ).toBeUndefined()
    expect(errors.map((error) => error.code)).toEqual(['INVALID_REQUEST', 'INVALID_REQUEST'])
    expect(errors[1]?.message).toContain('unknown result "maybe"')
  })
})
