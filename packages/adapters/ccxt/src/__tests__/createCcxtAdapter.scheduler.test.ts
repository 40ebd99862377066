import { MemoryStore, SyncScheduler } from '@syncfolio/core'
import { FakeClock, type FakeExchangeServer, startFakeExchange } from '@syncfolio/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { createCcxtAdapter } from '../createCcxtAdapter.js'

const MINUTE = 60_000
const BINANCE_CONNECTIONS = 400
const OKX_CONNECTIONS = 30

let fake: FakeExchangeServer | undefined
let scheduler: SyncScheduler | undefined
afterEach(async () => {
  await scheduler?.stop({ timeoutMs: 0 })
  await fake?.close()
})

/** Lets real I/O finish (the fake clock stands still meanwhile), then moves fake time on a little. */
async function run(clock: FakeClock, sync: SyncScheduler, untilMs: number, stepMs = 10): Promise<void> {
  while (clock.now() < untilMs) {
    while (sync.stats().inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 1))
    await clock.advance(stepMs)
  }
  // The last step may have started syncs whose requests reached the exchange: let them finish before counting.
  while (sync.stats().inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 1))
}

describe('the SyncScheduler over real ccxt and the fake exchange', () => {
  it('gets no 429 at the real default budgets while using nearly all of Binance weight', async () => {
    // One clock for the scheduler and the exchange's windows; ccxt signs with real time, so the fake skips that check.
    const clock = new FakeClock(Date.UTC(2026, 0, 1))
    const start = clock.now()
    const binanceAccounts = Array.from({ length: BINANCE_CONNECTIONS }, (_, index) => ({
      exchange: 'binance' as const,
      apiKey: `binance-key-${index}`,
      secret: `binance-secret-${index}`,
      balances: [{ asset: 'BTC', free: `${index + 1}` }],
    }))
    const okxAccounts = Array.from({ length: OKX_CONNECTIONS }, (_, index) => ({
      exchange: 'okx' as const,
      apiKey: `okx-key-${index}`,
      secret: `okx-secret-${index}`,
      password: `okx-pass-${index}`,
      balances: [{ asset: 'ETH', free: `${index + 1}` }],
    }))
    // The fake enforces the exchanges' real limits: 6000 weight per minute per IP, 10 balance calls per 2 s per account.
    fake = await startFakeExchange({ clock, checkTimestamps: false, accounts: [...binanceAccounts, ...okxAccounts] })
    const store = new MemoryStore()
    for (const { exchange, ...credentials } of [...binanceAccounts, ...okxAccounts]) {
      const { apiKey, secret } = credentials
      const password = 'password' in credentials ? credentials.password : undefined
      await store.add({ userId: apiKey, exchange, credentials: { apiKey, secret, password } })
    }
    // No `limits`: the built-in defaults (Binance 6000 / 60 s per IP at cost 20, OKX 10 / 2 s per account).
    scheduler = new SyncScheduler({
      store,
      clock,
      exchanges: [createCcxtAdapter('binance', { baseUrl: fake.url }), createCcxtAdapter('okx', { baseUrl: fake.url })],
    })
    let succeeded = 0
    scheduler.on('sync:success', () => succeeded++)
    scheduler.start()

    await run(clock, scheduler, start + 4 * MINUTE)

    const requests = fake.requests
    const limited = requests.filter((entry) => entry.status === 429 || entry.status === 418 || entry.code === '50011')
    expect(limited).toEqual([])
    // One request per sync, every one answered, plus one per OKX key, once, for its user id.
    expect(requests.every((entry) => entry.status === 200)).toBe(true)
    const configs = requests.filter((entry) => entry.path === '/api/v5/account/config')
    expect(configs.length).toBe(OKX_CONNECTIONS)
    expect(new Set(configs.map((entry) => entry.apiKey)).size).toBe(OKX_CONNECTIONS)
    const balanceCalls = requests.filter((entry) => entry.path !== '/api/v5/account/config')
    expect(balanceCalls.length).toBe(succeeded)
    expect(new Set(balanceCalls.map((entry) => entry.path))).toEqual(
      new Set(['/api/v3/account', '/api/v5/account/balance']),
    )
    // 400 Binance accounts want 8000 weight a minute: the budget is the bottleneck, and it is used, not wasted.
    const weightPerMinute = new Map<number, number>()
    for (const entry of requests) {
      const minute = Math.floor((entry.at - start) / MINUTE)
      weightPerMinute.set(minute, (weightPerMinute.get(minute) ?? 0) + entry.weight)
    }
    for (const minute of [0, 1, 2, 3]) {
      expect(weightPerMinute.get(minute), `minute ${minute}`).toBeLessThanOrEqual(6_000)
      expect(weightPerMinute.get(minute), `minute ${minute}`).toBeGreaterThanOrEqual(0.9 * 6_000)
    }
    // Nobody starves: every connection was synced at least twice in the four minutes.
    const syncsPerKey = new Map<string, number>()
    for (const entry of balanceCalls)
      syncsPerKey.set(entry.apiKey ?? '', (syncsPerKey.get(entry.apiKey ?? '') ?? 0) + 1)
    for (const { apiKey } of binanceAccounts) expect(syncsPerKey.get(apiKey) ?? 0).toBeGreaterThanOrEqual(2)
    for (const { apiKey } of okxAccounts) expect(syncsPerKey.get(apiKey) ?? 0).toBeGreaterThanOrEqual(2)
  })
})
