import { getEventListeners } from 'node:events'
import {
  type Connection,
  type Credentials,
  InvalidOptionError,
  MemoryStore,
  SyncError,
  SyncScheduler,
  sumDecimals,
} from '@syncfolio/core'
import {
  type FakeAccountOptions,
  type FakeExchangeServer,
  recordingAdapter,
  startFakeExchange,
} from '@syncfolio/testing'
import ccxt from 'ccxt'
import { afterEach, describe, expect, it } from 'vitest'
import { createCcxtAdapter } from '../createCcxtAdapter.js'

const servers: FakeExchangeServer[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()))
})

async function start(accounts: FakeAccountOptions[] = []): Promise<FakeExchangeServer> {
  const server = await startFakeExchange({ accounts })
  servers.push(server)
  return server
}

function connection(id = 'c1', exchange = 'binance'): Connection {
  return {
    id,
    userId: 'u1',
    exchange,
    status: 'active',
    lastSyncAt: null,
    lastAttemptAt: null,
    nextSyncAt: null,
    failureCount: 0,
    lastError: null,
  }
}

function request(credentials: Credentials, signal = new AbortController().signal, id = 'c1') {
  return { connection: connection(id), credentials, signal }
}

/** Binance accounts holding amounts that name them: account 7 holds 8.00000008 BTC and 1007 USDT. */
function ownAmount(index: number): string {
  return `${index + 1}.${String(index + 1).padStart(8, '0')}`
}

function binanceAccounts(
  count: number,
): Array<FakeAccountOptions & { balances: Array<{ asset: string; free: string }> }> {
  return Array.from({ length: count }, (_, index) => ({
    exchange: 'binance' as const,
    apiKey: `binance-key-${index}`,
    secret: `binance-secret-${index}`,
    balances: [
      { asset: 'BTC', free: ownAmount(index) },
      { asset: 'USDT', free: `${1000 + index}` },
    ],
  }))
}

describe('createCcxtAdapter over real ccxt and the fake exchange', () => {
  it('gives 20 Binance connections synced at concurrency 10 exactly their own balances', async () => {
    const accounts = binanceAccounts(20)
    const fake = await start(accounts)
    // Every answer takes a while, so ten calls really are in flight together.
    fake.inject({ type: 'latency', ms: 25 })
    const adapter = createCcxtAdapter('binance', { baseUrl: fake.url })
    const recorder = recordingAdapter('binance', (call) => adapter.fetchBalances(call))
    const store = new MemoryStore()
    const ids = new Map<string, string>()
    for (const account of accounts) {
      const added = await store.add({
        userId: `user-${account.apiKey}`,
        exchange: 'binance',
        credentials: { apiKey: account.apiKey, secret: account.secret },
      })
      ids.set(added.id, account.apiKey)
    }
    const scheduler = new SyncScheduler({ store, exchanges: [recorder], concurrency: 10 })

    const report = await scheduler.runOnce()

    expect(report).toMatchObject({ attempted: 20, succeeded: 20, failed: 0 })
    expect(recorder.maxInFlight).toBe(10)
    expect(adapter.poolStats().created).toBe(10)
    for (const [connectionId, apiKey] of ids) {
      const index = Number(apiKey.split('-').at(-1))
      const account = accounts[index]
      expect(await store.getBalances(connectionId)).toEqual([
        { asset: 'BTC', free: account?.balances[0]?.free, used: '0.00000000', total: account?.balances[0]?.free },
        { asset: 'USDT', free: `${1000 + index}.00000000`, used: '0.00000000', total: `${1000 + index}.00000000` },
      ])
    }
    // Each key signed exactly one request, and every request was accepted.
    const keys = fake.requests.map((entry) => entry.apiKey)
    expect(new Set(keys).size).toBe(20)
    expect(fake.requests.every((entry) => entry.status === 200)).toBe(true)
  })

  it('control: one shared ccxt instance with keys set per call does cross keys under the same load', async () => {
    const accounts = binanceAccounts(10)
    const fake = await start(accounts)
    fake.inject({ type: 'latency', ms: 25 })
    // ccxt's defaults: its per-instance limiter awaits before signing, so the key is read after others were set.
    const shared = new ccxt.binance({ fetchImplementation: (u: string, o: RequestInit) => fetch(u, o) })
    shared.urls = { ...shared.urls, api: { private: `${fake.url}/api/v3` } } as never
    shared.setMarkets([])
    const results = await Promise.allSettled(
      accounts.map(async (account) => {
        shared.apiKey = account.apiKey
        shared.secret = account.secret
        return (await shared.fetchBalance()).info as { balances: Array<{ free: string }> }
      }),
    )
    const own = results.filter(
      (result, index) => result.status === 'fulfilled' && result.value.balances[0]?.free === ownAmount(index),
    )
    // Only the last key set wins: the harness above would catch one crossed key.
    expect(own.length).toBeLessThan(accounts.length)
  })

  it("sends exactly one request per sync, first sync included, on Binance and OKX, and once per OKX key its user's id", async () => {
    const fake = await start([
      ...binanceAccounts(3),
      {
        exchange: 'okx',
        apiKey: 'okx-key',
        secret: 'okx-secret',
        password: 'okx-pass',
        balances: [{ asset: 'ETH', free: '1' }],
      },
    ])
    const binance = createCcxtAdapter('binance', { baseUrl: fake.url })
    const okx = createCcxtAdapter('okx', { baseUrl: fake.url })
    for (let round = 0; round < 3; round++) {
      for (const index of [0, 1, 2]) {
        await binance.fetchBalances(request({ apiKey: `binance-key-${index}`, secret: `binance-secret-${index}` }))
      }
      await okx.fetchBalances(request({ apiKey: 'okx-key', secret: 'okx-secret', password: 'okx-pass' }))
    }
    expect(fake.requests.map((entry) => `${entry.method} ${entry.path}`)).toEqual(
      Array.from({ length: 3 }, (_, round) => [
        'GET /api/v3/account',
        'GET /api/v3/account',
        'GET /api/v3/account',
        ...(round === 0 ? ['GET /api/v5/account/config'] : []),
        'GET /api/v5/account/balance',
      ]).flat(),
    )
    expect(fake.requests.every((entry) => entry.status === 200)).toBe(true)
  })

  it('loads markets once for other exchanges, shares them by reference, then sends one request per sync', async () => {
    // binanceus speaks Binance's protocol but has no exact-string reader: it takes the generic fetchBalance path.
    const accounts = binanceAccounts(6)
    const fake = await start(accounts)
    const adapter = createCcxtAdapter('binanceus', { baseUrl: fake.url })
    const sync = (index: number) =>
      adapter.fetchBalances(request({ apiKey: `binance-key-${index}`, secret: `binance-secret-${index}` }))

    await Promise.all([sync(0), sync(1), sync(2)])
    const warmUp = fake.requests.filter((entry) => entry.path !== '/api/v3/account').length
    expect(warmUp).toBeGreaterThan(0)
    fake.clearRequests()

    await Promise.all([0, 1, 2, 3, 4, 5].map(sync))
    await Promise.all([0, 1, 2, 3, 4, 5].map(sync))
    expect(fake.requests).toHaveLength(12)
    expect(fake.requests.every((entry) => entry.path === '/api/v3/account')).toBe(true)
  })

  it('returns exact decimal strings from the raw response, so 98765432.12345678 + 0.00000002 totals exactly', async () => {
    const fake = await start([
      {
        exchange: 'binance',
        apiKey: 'k1',
        secret: 's1',
        balances: [
          { asset: 'BTC', free: '98765432.12345678', used: '0.00000002' },
          { asset: 'ETH', free: '0', used: '0' },
        ],
      },
      { exchange: 'binance', apiKey: 'k2', secret: 's2', balances: [{ asset: 'BTC', free: '0.00000002' }] },
      {
        exchange: 'okx',
        apiKey: 'k3',
        secret: 's3',
        password: 'p3',
        balances: [
          { asset: 'BTC', free: '98765432.123456789012', used: '0.000000000001' },
          { asset: 'SOL', free: '0' },
        ],
      },
    ])
    const binance = createCcxtAdapter('binance', { baseUrl: fake.url })
    const okx = createCcxtAdapter('okx', { baseUrl: fake.url })

    const first = await binance.fetchBalances(request({ apiKey: 'k1', secret: 's1' }))
    const second = await binance.fetchBalances(request({ apiKey: 'k2', secret: 's2' }))
    const third = await okx.fetchBalances(request({ apiKey: 'k3', secret: 's3', password: 'p3' }))

    // Zero balances are dropped.
    expect(first.balances).toEqual([
      { asset: 'BTC', free: '98765432.12345678', used: '0.00000002', total: '98765432.12345680' },
    ])
    expect(sumDecimals([first.balances[0]?.free ?? '', second.balances[0]?.total ?? ''])).toBe('98765432.12345680')
    expect(third.balances).toEqual([
      { asset: 'BTC', free: '98765432.123456789012', used: '0.000000000001', total: '98765432.123456789013' },
    ])
    // What ccxt's own floats make of the same account.
    const floats = createCcxtAdapter('binanceus', { baseUrl: fake.url })
    const viaFloats = await floats.fetchBalances(request({ apiKey: 'k1', secret: 's1' }))
    expect(viaFloats.balances[0]?.total).toBe('98765432.1234568')
  })

  it("reports Binance's X-MBX-USED-WEIGHT-1M as usage.usedWeight", async () => {
    const fake = await start(binanceAccounts(2))
    const adapter = createCcxtAdapter('binance', { baseUrl: fake.url })
    const first = await adapter.fetchBalances(request({ apiKey: 'binance-key-0', secret: 'binance-secret-0' }))
    await fetch(`${fake.url}/api/v3/exchangeInfo`)
    const second = await adapter.fetchBalances(request({ apiKey: 'binance-key-1', secret: 'binance-secret-1' }))
    expect(first.usage).toEqual({ usedWeight: 20 })
    expect(second.usage).toEqual({ usedWeight: 60 })
    expect(fake.usedWeight()).toBe(60)
  })

  it('aborts the HTTP request when the signal aborts, and sends none when it already has', async () => {
    const fake = await start(binanceAccounts(1))
    const adapter = createCcxtAdapter('binance', { baseUrl: fake.url })
    const credentials = { apiKey: 'binance-key-0', secret: 'binance-secret-0' }
    fake.inject({ type: 'hang' })
    const controller = new AbortController()
    const pending = adapter.fetchBalances(request(credentials, controller.signal))
    await waitFor(() => fake.requests.length === 0 && adapter.poolStats().busy === 1)
    await new Promise((resolve) => setTimeout(resolve, 30))
    controller.abort()

    await expect(pending).rejects.toMatchObject({ name: 'SyncError', code: 'TIMEOUT' })
    // The fake saw the client leave: the hung request ended without an answer.
    await waitFor(() => fake.requests.length === 1)
    expect(fake.requests[0]).toMatchObject({ path: '/api/v3/account', status: 0, fault: 'hang' })
    expect(adapter.poolStats()).toMatchObject({ busy: 0, idle: 1 })

    const cancelled = new AbortController()
    cancelled.abort(new SyncError('CANCELLED', 'The scheduler stopped.'))
    await expect(adapter.fetchBalances(request(credentials, cancelled.signal))).rejects.toMatchObject({
      code: 'CANCELLED',
    })
    expect(fake.requests).toHaveLength(1)
  })

  it("reads a revoked key after another account's success on the same instance as AUTH_FAILED, not a ban", async () => {
    const fake = await start(binanceAccounts(2))
    const adapter = createCcxtAdapter('binance', { baseUrl: fake.url })
    await adapter.fetchBalances(request({ apiKey: 'binance-key-0', secret: 'binance-secret-0' }))
    fake.account('binance', 'binance-key-1')?.revoke()
    const error = (await adapter
      .fetchBalances(request({ apiKey: 'binance-key-1', secret: 'binance-secret-1' }))
      .catch((thrown: unknown) => thrown)) as SyncError
    expect(adapter.poolStats().created).toBe(1)
    expect(error.code).toBe('AUTH_FAILED')
    // ccxt itself calls it a DDoSProtection when hasAlreadyAuthenticatedSuccessfully is left set.
    expect((error.cause as Error).name).toBe('AuthenticationError')
  })

  it('leaves no listener on a signal that outlives its syncs', async () => {
    const fake = await start(binanceAccounts(1))
    const adapter = createCcxtAdapter('binance', { baseUrl: fake.url })
    const appWide = new AbortController()
    for (let sync = 0; sync < 20; sync++) {
      await adapter.fetchBalances(request({ apiKey: 'binance-key-0', secret: 'binance-secret-0' }, appWide.signal))
    }
    expect(getEventListeners(appWide.signal, 'abort')).toHaveLength(0)
  })

  it('lets the scheduler time out a hanging exchange through the signal', async () => {
    const fake = await start(binanceAccounts(1))
    fake.inject({ type: 'hang' })
    const store = new MemoryStore()
    const added = await store.add({
      userId: 'u',
      exchange: 'binance',
      credentials: { apiKey: 'binance-key-0', secret: 'binance-secret-0' },
    })
    const scheduler = new SyncScheduler({
      store,
      exchanges: [createCcxtAdapter('binance', { baseUrl: fake.url })],
      timeoutMs: 100,
    })
    const outcome = await scheduler.syncNow(added.id)
    expect(outcome).toMatchObject({ ok: false, error: { code: 'TIMEOUT' } })
    await waitFor(() => fake.requests.length === 1)
    expect(fake.requests[0]?.status).toBe(0)
  })

  it('calls a fetchImplementation given in `ccxt`, with the signal attached', async () => {
    const fake = await start(binanceAccounts(1))
    const seen: Array<{ url: string; signal: unknown }> = []
    const adapter = createCcxtAdapter('binance', {
      baseUrl: fake.url,
      ccxt: {
        fetchImplementation: (url: string, init: RequestInit) => {
          seen.push({ url, signal: init.signal })
          return fetch(url, init)
        },
      },
    })
    await adapter.fetchBalances(request({ apiKey: 'binance-key-0', secret: 'binance-secret-0' }))
    expect(seen).toHaveLength(1)
    expect(seen[0]?.url).toMatch(new RegExp(`^${fake.url}/api/v3/account\\?`))
    expect(seen[0]?.signal).toBeInstanceOf(AbortSignal)
  })

  it('keeps at most maxIdleInstances warm instances', async () => {
    const fake = await start(binanceAccounts(4))
    fake.inject({ type: 'latency', ms: 20 })
    const adapter = createCcxtAdapter('binance', { baseUrl: fake.url, maxIdleInstances: 2 })
    await Promise.all(
      [0, 1, 2, 3].map((index) =>
        adapter.fetchBalances(request({ apiKey: `binance-key-${index}`, secret: `binance-secret-${index}` })),
      ),
    )
    expect(adapter.poolStats()).toEqual({ created: 4, idle: 2, busy: 0 })
  })

  it('validates its arguments once, naming the field and never echoing credentials', () => {
    expect(() => createCcxtAdapter('not-an-exchange')).toThrow(InvalidOptionError)
    expect(() => createCcxtAdapter('not-an-exchange')).toThrow(/"exchangeId".*"not-an-exchange"/)
    expect(() => createCcxtAdapter('Exchange')).toThrow(/"exchangeId"/)
    expect(() => createCcxtAdapter('binance', { baseUrl: 'ftp://example.com' })).toThrow(/"baseUrl"/)
    expect(() => createCcxtAdapter('binance', { baseUrl: 'https://x.test/?a=1' })).toThrow(/"baseUrl"/)
    expect(() => createCcxtAdapter('binance', { maxIdleInstances: -1 })).toThrow(/"maxIdleInstances".*received -1/)
    const withSecret = () => createCcxtAdapter('binance', { ccxt: { apiKey: 'a-real-key', secret: 'a-real-secret' } })
    expect(withSecret).toThrow(/"ccxt".*credentials/)
    expect(withSecret).not.toThrow(/a-real-(key|secret)/)
    expect(() => createCcxtAdapter('binance', { unknown: true } as never)).toThrow(/"unknown"|unrecognized/i)
  })

  it('uses the exchange id as the adapter id', () => {
    expect(createCcxtAdapter('okx').id).toBe('okx')
  })
})

async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('waitFor: condition still false')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
