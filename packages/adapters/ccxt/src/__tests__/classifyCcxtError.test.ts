import { createRequire } from 'node:module'
import { type Credentials, SyncError, type SyncErrorCode } from '@syncfolio/core'
import { FakeClock, type FakeExchangeOptions, type FakeExchangeServer, startFakeExchange } from '@syncfolio/testing'
import { afterAll, describe, expect, it } from 'vitest'
import { binanceDialect } from '../binanceDialect.js'
import { classifyCcxtError, parseRetryAfter } from '../classifyCcxtError.js'
import { type CcxtAdapterOptions, createCcxtAdapter } from '../index.js'

// Long, distinctive values: any leak into a message would be plain to see.
const BINANCE_CREDENTIALS = { apiKey: 'BINANCEKEY-0123456789abcdef', secret: 'BINANCESECRET-fedcba9876543210' }
const OKX_CREDENTIALS = {
  apiKey: 'OKXKEY-0123456789abcdef',
  secret: 'OKXSECRET-fedcba9876543210',
  password: 'OKXPASSPHRASE-13579',
}

interface Row {
  /** The row of the mapping table this pins. */
  name: string
  exchange: 'binance' | 'okx' | 'binanceus'
  fake?: FakeExchangeOptions
  /** Runs before the `before` syncs. */
  prepare?: (fake: FakeExchangeServer) => unknown
  setup?: (fake: FakeExchangeServer) => unknown
  credentials?: Partial<Credentials>
  adapter?: CcxtAdapterOptions
  /** Syncs that succeed (or fail) before the one checked, e.g. to use up a limit. */
  before?: number
  /** Stops the fake before the sync, so nothing listens on its port. */
  closeFirst?: boolean
  /** Aborts the sync's signal this long after it starts. */
  abortAfterMs?: number
  expected: { code: SyncErrorCode; scope?: 'exchange' | 'account'; retryAfterMs?: number; message?: RegExp }
}

/** A clock 15 s into a minute: Binance's Retry-After is then the 45 s left of its window. */
const quarterPast = () => new FakeClock(Date.UTC(2026, 0, 1, 0, 0, 15))

/** One clock for the fake and the adapter, for waits the exchange states as a time. */
function sharedClock(): { clock: FakeClock; fake: FakeExchangeOptions; adapter: CcxtAdapterOptions } {
  const clock = quarterPast()
  return { clock, fake: { clock, checkTimestamps: false }, adapter: { clock } }
}
const bannedNoHeader = sharedClock()
const naturalBanNoHeader = sharedClock()
const authDuringPause = sharedClock()
const authAfterPause = sharedClock()

/** Rows of docs/ccxt-adapter.md's table of real answers (Binance and OKX API docs); each failed before it was handled. */
const REAL_ANSWERS: Row[] = [
  {
    name: 'OKX 50009 at HTTP 200: frozen during a stop-out, transient, not a suspended account',
    exchange: 'okx',
    setup: (fake) => fake.inject({ type: 'code', code: '50009' }),
    expected: { code: 'EXCHANGE_UNAVAILABLE', message: /stops it out.*HTTP 200, code 50009: Account is frozen/ },
  },
  {
    name: 'OKX 50022 at HTTP 200: frozen for a liquidation, transient and named',
    exchange: 'okx',
    setup: (fake) => fake.inject({ type: 'code', code: '50022' }),
    expected: { code: 'EXCHANGE_UNAVAILABLE', message: /frozen for a liquidation.*HTTP 200, code 50022/ },
  },
  {
    name: "OKX 50119 at HTTP 200 (as OKX documents it): the API key doesn't exist",
    exchange: 'okx',
    setup: (fake) => fake.inject({ type: 'code', code: '50119' }),
    expected: { code: 'AUTH_FAILED', message: /HTTP 200, code 50119/ },
  },
  {
    name: "OKX 50119 at HTTP 401: the API key doesn't exist",
    exchange: 'okx',
    setup: (fake) => fake.inject({ type: 'code', code: '50119', status: 401 }),
    expected: { code: 'AUTH_FAILED', message: /HTTP 401, code 50119/ },
  },
  {
    name: 'OKX 50040 "Too frequent operations": the user\'s limit, account scope',
    exchange: 'okx',
    setup: (fake) => fake.inject({ type: 'code', code: '50040' }),
    expected: { code: 'RATE_LIMITED', scope: 'account', retryAfterMs: 2_000, message: /code 50040/ },
  },
  {
    name: 'OKX 50011 at HTTP 200 as well as 429: account scope',
    exchange: 'okx',
    setup: (fake) => fake.inject({ type: 'rate-limited', status: 200 }),
    expected: { code: 'RATE_LIMITED', scope: 'account', retryAfterMs: 2_000, message: /HTTP 200, code 50011/ },
  },
  {
    name: 'OKX bare HTTP 429 without an OKX code: account scope (OKX counts private limits per user)',
    exchange: 'okx',
    setup: (fake) => fake.inject({ type: 'rate-limited', bare: true }),
    expected: { code: 'RATE_LIMITED', scope: 'account', retryAfterMs: 2_000, message: /HTTP 429/ },
  },
  {
    name: "OKX 50121: the server's IP is refused for every key: pause the exchange, fail no connection",
    exchange: 'okx',
    setup: (fake) => fake.inject({ type: 'restricted-location' }),
    expected: {
      code: 'EXCHANGE_UNAVAILABLE',
      scope: 'exchange',
      retryAfterMs: 600_000,
      message: /refuses this server's IP address for every key.*proxy.*code 50121/,
    },
  },
  {
    name: "OKX 50110: the key's own IP whitelist, telling the user to allow the server's IP",
    exchange: 'okx',
    setup: (fake) => fake.inject({ type: 'ip-not-allowed' }),
    expected: { code: 'PERMISSION_DENIED', message: /add the server's IP to the key on OKX.*code 50110/ },
  },
  {
    name: 'Binance 418 without Retry-After: the ban end from the message gives retryAfterMs',
    exchange: 'binance',
    fake: bannedNoHeader.fake,
    adapter: bannedNoHeader.adapter,
    setup: (fake) => fake.inject({ type: 'ip-banned', ms: 300_000 }),
    expected: { code: 'RATE_LIMITED', scope: 'exchange', retryAfterMs: 300_000, message: /banned.*HTTP 418/ },
  },
  {
    name: 'Binance 418 without Retry-After after ignored 429s',
    exchange: 'binance',
    fake: {
      ...naturalBanNoHeader.fake,
      binance: { weightPerMinute: 20, banAfter429s: 1, banRetryAfter: false },
    },
    adapter: naturalBanNoHeader.adapter,
    before: 2,
    expected: { code: 'RATE_LIMITED', scope: 'exchange', retryAfterMs: 120_000, message: /banned.*HTTP 418/ },
  },
  {
    name: 'Binance 403 with the WAF HTML page: rate limited on the exchange scope with a conservative pause',
    exchange: 'binance',
    setup: (fake) => fake.inject({ type: 'waf' }),
    expected: { code: 'RATE_LIMITED', scope: 'exchange', retryAfterMs: 300_000, message: /firewall.*HTTP 403/ },
  },
  {
    name: 'Binance 451 (restricted location): pause the exchange, fail no connection',
    exchange: 'binance',
    setup: (fake) => fake.inject({ type: 'restricted-location' }),
    expected: {
      code: 'EXCHANGE_UNAVAILABLE',
      scope: 'exchange',
      retryAfterMs: 600_000,
      message: /refuses this server's IP address for every key \(restricted location\).*HTTP 451/,
    },
  },
  {
    name: 'Binance -2015 while a recent 429 pauses the exchange: not permanent',
    exchange: 'binance',
    fake: authDuringPause.fake,
    adapter: authDuringPause.adapter,
    prepare: (fake) => fake.inject({ type: 'rate-limited', retryAfterMs: 30_000 }, { times: 1 }),
    before: 1,
    setup: async (fake) => {
      await authDuringPause.clock.advance(10_000)
      fake.account('binance', BINANCE_CREDENTIALS.apiKey)?.revoke()
    },
    expected: { code: 'RATE_LIMITED', scope: 'exchange', retryAfterMs: 20_000, message: /HTTP 401, code -2015/ },
  },
  {
    name: 'Binance -2015 once that pause is over: the key is rejected',
    exchange: 'binance',
    fake: authAfterPause.fake,
    adapter: authAfterPause.adapter,
    prepare: (fake) => fake.inject({ type: 'rate-limited', retryAfterMs: 30_000 }, { times: 1 }),
    before: 1,
    setup: async (fake) => {
      await authAfterPause.clock.advance(30_000)
      fake.account('binance', BINANCE_CREDENTIALS.apiKey)?.revoke()
    },
    expected: { code: 'AUTH_FAILED', message: /HTTP 401, code -2015/ },
  },
]

const ROWS: Row[] = [
  // 401 / -2015 / -1022 / 50111 / 50113 -> AUTH_FAILED
  {
    name: 'Binance -2015 (HTTP 401): a revoked key',
    exchange: 'binance',
    setup: (fake) => fake.account('binance', BINANCE_CREDENTIALS.apiKey)?.revoke(),
    expected: { code: 'AUTH_FAILED', message: /HTTP 401, code -2015/ },
  },
  {
    name: 'Binance -1022: a wrong secret',
    exchange: 'binance',
    credentials: { secret: 'WRONGSECRET-000000000000' },
    expected: { code: 'AUTH_FAILED', message: /code -1022/ },
  },
  {
    name: 'OKX 50111 (HTTP 401): a revoked key',
    exchange: 'okx',
    setup: (fake) => fake.account('okx', OKX_CREDENTIALS.apiKey)?.revoke(),
    expected: { code: 'AUTH_FAILED', message: /HTTP 401, code 50111/ },
  },
  {
    name: 'OKX 50113: a wrong secret',
    exchange: 'okx',
    credentials: { secret: 'WRONGSECRET-000000000000' },
    expected: { code: 'AUTH_FAILED', message: /code 50113/ },
  },
  {
    name: 'OKX 50105: a wrong passphrase',
    exchange: 'okx',
    credentials: { password: 'WRONGPASSPHRASE-00000' },
    expected: { code: 'AUTH_FAILED', message: /code 50105/ },
  },
  {
    name: 'HTTP 401 on an exchange without a code table (ccxt AuthenticationError)',
    exchange: 'binanceus',
    setup: (fake) => fake.account('binance', BINANCE_CREDENTIALS.apiKey)?.revoke(),
    expected: { code: 'AUTH_FAILED', message: /HTTP 401/ },
  },
  // PermissionDenied / 50110 -> PERMISSION_DENIED
  // AccountSuspended -> ACCOUNT_SUSPENDED
  {
    name: 'OKX 50007 (ccxt AccountSuspended): the account is blocked',
    exchange: 'okx',
    setup: (fake) => fake.inject({ type: 'suspended' }),
    expected: { code: 'ACCOUNT_SUSPENDED', message: /code 50007/ },
  },
  // 429 / 418 / -1003 / 50011 -> RATE_LIMITED with retryAfterMs and scope
  {
    name: "Binance 429 -1003: the IP's weight is used up; Retry-After is the rest of the minute",
    exchange: 'binance',
    fake: { clock: quarterPast(), checkTimestamps: false, binance: { weightPerMinute: 20 } },
    before: 1,
    expected: { code: 'RATE_LIMITED', scope: 'exchange', retryAfterMs: 45_000, message: /HTTP 429, code -1003/ },
  },
  {
    name: 'Binance 418: the IP is banned after ignoring 429s',
    exchange: 'binance',
    fake: { clock: quarterPast(), checkTimestamps: false, binance: { weightPerMinute: 20, banAfter429s: 1 } },
    before: 2,
    expected: {
      code: 'RATE_LIMITED',
      scope: 'exchange',
      retryAfterMs: 120_000,
      message: /banned.*HTTP 418, code -1003/,
    },
  },
  {
    name: 'OKX 50011: the account made 10 balance calls in 2 s',
    exchange: 'okx',
    fake: { clock: quarterPast(), checkTimestamps: false },
    before: 10,
    expected: { code: 'RATE_LIMITED', scope: 'account', retryAfterMs: 2_000, message: /HTTP 429, code 50011/ },
  },
  {
    name: 'HTTP 429 with Retry-After on an exchange without a code table',
    exchange: 'binanceus',
    setup: (fake) => fake.inject({ type: 'rate-limited', retryAfterMs: 7_000 }, { path: '/api/v3/account' }),
    expected: { code: 'RATE_LIMITED', scope: 'exchange', retryAfterMs: 7_000 },
  },
  // ExchangeNotAvailable / OnMaintenance / 5xx -> EXCHANGE_UNAVAILABLE
  {
    name: 'Binance HTTP 500',
    exchange: 'binance',
    setup: (fake) => fake.inject({ type: 'error' }),
    expected: { code: 'EXCHANGE_UNAVAILABLE', message: /HTTP 500/ },
  },
  {
    name: "Binance 502 with a gateway's HTML page",
    exchange: 'binance',
    setup: (fake) => fake.inject({ type: 'error', status: 502 }),
    expected: { code: 'EXCHANGE_UNAVAILABLE', message: /HTTP 502/ },
  },
  {
    name: 'Binance 503 -1008: overloaded',
    exchange: 'binance',
    setup: (fake) => fake.inject({ type: 'maintenance' }),
    expected: { code: 'EXCHANGE_UNAVAILABLE', message: /HTTP 503, code -1008/ },
  },
  {
    name: 'OKX 50001 (ccxt OnMaintenance): maintenance',
    exchange: 'okx',
    setup: (fake) => fake.inject({ type: 'maintenance' }),
    expected: { code: 'EXCHANGE_UNAVAILABLE', message: /code 50001/ },
  },
  {
    name: 'OKX HTTP 504 (ccxt RequestTimeout) is the exchange failing, not us',
    exchange: 'okx',
    setup: (fake) => fake.inject({ type: 'error', status: 504 }),
    expected: { code: 'EXCHANGE_UNAVAILABLE', message: /HTTP 504/ },
  },
  {
    name: 'HTTP 503 on an exchange without a code table (ccxt ExchangeNotAvailable)',
    exchange: 'binanceus',
    setup: (fake) => fake.inject({ type: 'error', status: 503 }, { path: '/api/v3/account' }),
    expected: { code: 'EXCHANGE_UNAVAILABLE' },
  },
  // RequestTimeout / abort -> TIMEOUT
  {
    name: "ccxt's own timeout (RequestTimeout) on a hanging exchange",
    exchange: 'binance',
    adapter: { ccxt: { timeout: 150 } },
    setup: (fake) => fake.inject({ type: 'hang' }),
    expected: { code: 'TIMEOUT', message: /RequestTimeout/ },
  },
  {
    name: 'the sync aborted by its signal while OKX hangs',
    exchange: 'okx',
    setup: (fake) => fake.inject({ type: 'hang' }),
    abortAfterMs: 100,
    expected: { code: 'TIMEOUT', message: /aborted/ },
  },
  // other NetworkError -> NETWORK
  {
    name: 'the connection dropped without an answer',
    exchange: 'binance',
    setup: (fake) => fake.inject({ type: 'disconnect' }),
    expected: { code: 'NETWORK', message: /NetworkError/ },
  },
  {
    name: 'the connection refused',
    exchange: 'okx',
    closeFirst: true,
    expected: { code: 'NETWORK', message: /ECONNREFUSED|fetch failed/ },
  },
  // a body that is not the expected JSON -> INVALID_RESPONSE
  {
    name: 'Binance 200 with an HTML page',
    exchange: 'binance',
    setup: (fake) => fake.inject({ type: 'html' }),
    expected: { code: 'INVALID_RESPONSE', message: /text\/html/ },
  },
  {
    name: 'OKX 200 with an HTML page',
    exchange: 'okx',
    setup: (fake) => fake.inject({ type: 'html' }),
    expected: { code: 'INVALID_RESPONSE', message: /text\/html/ },
  },
  {
    name: 'a 200 HTML page on an exchange without a reader of its own (ccxt would parse it as empty)',
    exchange: 'binanceus',
    setup: (fake) => fake.inject({ type: 'html' }, { path: '/api/v3/account' }),
    expected: { code: 'INVALID_RESPONSE' },
  },
]

const servers: FakeExchangeServer[] = []
afterAll(async () => {
  await Promise.all(servers.map((server) => server.close()))
})

async function failingSync(row: Row): Promise<{ error: SyncError; secrets: string[] }> {
  const base = row.exchange === 'okx' ? OKX_CREDENTIALS : BINANCE_CREDENTIALS
  const fake = await startFakeExchange({
    accounts: [
      { exchange: 'binance', ...BINANCE_CREDENTIALS, balances: [{ asset: 'BTC', free: '1' }] },
      { exchange: 'okx', ...OKX_CREDENTIALS, balances: [{ asset: 'BTC', free: '1' }] },
    ],
    ...row.fake,
  })
  servers.push(fake)
  const adapter = createCcxtAdapter(row.exchange, { baseUrl: fake.url, ...row.adapter })
  const credentials = { ...base, ...row.credentials } as Credentials
  const connection = {
    id: 'c1',
    userId: 'u1',
    exchange: row.exchange,
    status: 'active' as const,
    lastSyncAt: null,
    lastAttemptAt: null,
    nextSyncAt: null,
    failureCount: 0,
    lastError: null,
  }
  row.prepare?.(fake)
  for (let index = 0; index < (row.before ?? 0); index++) {
    await adapter.fetchBalances({ connection, credentials, signal: new AbortController().signal }).catch(() => {})
  }
  await row.setup?.(fake)
  if (row.closeFirst) await fake.close()
  const controller = new AbortController()
  if (row.abortAfterMs !== undefined) setTimeout(() => controller.abort(), row.abortAfterMs)
  const outcome = await adapter.fetchBalances({ connection, credentials, signal: controller.signal }).then(
    () => undefined,
    (error: unknown) => error,
  )
  if (outcome === undefined) throw new Error(`${row.name}: the sync succeeded`)
  return { error: outcome as SyncError, secrets: Object.values({ ...base, ...row.credentials }) }
}

describe('every error row of the mapping table, produced by the fake exchange through real ccxt', () => {
  it.each([...ROWS, ...REAL_ANSWERS].map((row) => [row.name, row] as const))('%s', async (_name, row) => {
    const { error, secrets } = await failingSync(row)
    expect(error).toBeInstanceOf(SyncError)
    expect({ code: error.code, scope: error.scope, retryAfterMs: error.retryAfterMs }).toEqual({
      code: row.expected.code,
      scope: row.expected.scope,
      retryAfterMs: row.expected.retryAfterMs,
    })
    expect(error.message.startsWith(`${row.exchange}: `)).toBe(true)
    if (row.expected.message) expect(error.message).toMatch(row.expected.message)
    const everything = `${error.message}\n${error.stack}\n${String(error.cause)}\n${(error.cause as Error | undefined)?.stack ?? ''}`
    for (const secret of secrets) expect(everything).not.toContain(secret)
  })
})

describe('messages', () => {
  it('never carry a credential, even when an HTTP client puts one in its error', async () => {
    const adapter = createCcxtAdapter('okx', {
      ccxt: {
        fetchImplementation: () => {
          const cause = new Error(
            `proxy refused OK-ACCESS-KEY=${OKX_CREDENTIALS.apiKey} pass=${OKX_CREDENTIALS.password}`,
          )
          throw new TypeError('fetch failed', { cause })
        },
      },
    })
    const connection = {
      id: 'c1',
      userId: 'u1',
      exchange: 'okx',
      status: 'active' as const,
      lastSyncAt: null,
      lastAttemptAt: null,
      nextSyncAt: null,
      failureCount: 0,
      lastError: null,
    }
    const error = (await adapter
      .fetchBalances({ connection, credentials: OKX_CREDENTIALS, signal: new AbortController().signal })
      .catch((thrown: unknown) => thrown)) as SyncError
    expect(error.code).toBe('NETWORK')
    expect(error.message).toContain('proxy refused OK-ACCESS-KEY=[redacted] pass=[redacted]')
    for (const secret of Object.values(OKX_CREDENTIALS)) {
      expect(`${error.message} ${String(error.cause)}`).not.toContain(secret)
    }
  })
})

describe('classifyCcxtError', () => {
  const context = {
    exchangeId: 'someexchange',
    dialect: binanceDialect,
    trace: { status: undefined, headers: undefined },
    body: undefined,
    signal: undefined,
    secrets: ['SECRET-VALUE-123'],
  }

  it('tells ccxt errors apart by name and lineage, so a second copy of ccxt (CJS beside ESM) classifies the same', () => {
    const cjs = createRequire(import.meta.url)('ccxt') as Record<string, new (message: string) => Error>
    const cases: Array<[string, SyncErrorCode]> = [
      ['AccountSuspended', 'ACCOUNT_SUSPENDED'],
      ['AccountNotEnabled', 'PERMISSION_DENIED'],
      ['PermissionDenied', 'PERMISSION_DENIED'],
      ['AuthenticationError', 'AUTH_FAILED'],
      ['RateLimitExceeded', 'RATE_LIMITED'],
      ['DDoSProtection', 'RATE_LIMITED'],
      ['OnMaintenance', 'EXCHANGE_UNAVAILABLE'],
      ['ExchangeNotAvailable', 'EXCHANGE_UNAVAILABLE'],
      ['RequestTimeout', 'TIMEOUT'],
      ['BadResponse', 'INVALID_RESPONSE'],
      ['NullResponse', 'INVALID_RESPONSE'],
      ['NetworkError', 'NETWORK'],
      ['ExchangeError', 'UNKNOWN'],
    ]
    for (const [name, code] of cases) {
      const ErrorClass = cjs[name] as new (message: string) => Error
      expect(classifyCcxtError(new ErrorClass('boom'), context).code, name).toBe(code)
    }
    // A subclass ccxt does not have, named only by its lineage.
    class NetworkError extends Error {}
    class CustomLimit extends NetworkError {}
    class RateLimitExceeded extends CustomLimit {}
    expect(classifyCcxtError(new RateLimitExceeded('x'), context)).toMatchObject({
      code: 'RATE_LIMITED',
      scope: 'exchange',
    })
    expect(classifyCcxtError(new TypeError('x'), context).code).toBe('UNKNOWN')
    expect(classifyCcxtError('a string', context).code).toBe('UNKNOWN')
  })

  it('cleans messages: no query strings (signatures), no credential values, bounded length', () => {
    const cjs = createRequire(import.meta.url)('ccxt') as Record<string, new (message: string) => Error>
    const NetworkError = cjs.NetworkError as new (message: string) => Error
    const error = classifyCcxtError(
      new NetworkError(
        `someexchange GET https://api.example.com/v1/balance?key=SECRET-VALUE-123&signature=abcdef fetch failed ${'x'.repeat(500)}`,
      ),
      context,
    )
    expect(error.message).toContain('https://api.example.com/v1/balance')
    expect(error.message).not.toMatch(/signature|SECRET-VALUE-123/)
    expect(error.message.length).toBeLessThan(400)
    expect((error.cause as Error).message).not.toMatch(/signature|SECRET-VALUE-123/)
  })

  it('passes the abort reason through when it is a SyncError (the scheduler stopping)', () => {
    const controller = new AbortController()
    const reason = new SyncError('CANCELLED', 'stopping')
    controller.abort(reason)
    expect(classifyCcxtError(new Error('AbortError'), { ...context, signal: controller.signal })).toBe(reason)
  })

  it('lets the exchange code win over the HTTP status', () => {
    // OKX answers a non-whitelisted IP with HTTP 401, which alone would read as AUTH_FAILED.
    const body = JSON.stringify({ code: -1003, msg: 'Too much request weight used' })
    const error = classifyCcxtError(new Error('x'), {
      ...context,
      trace: { status: 401, headers: new Headers() },
      body,
    })
    expect(error.code).toBe('RATE_LIMITED')
  })
})

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfter('30')).toBe(30_000)
    expect(parseRetryAfter('0.5')).toBe(500)
    const now = Date.UTC(2026, 0, 1)
    expect(parseRetryAfter(new Date(now + 90_000).toUTCString(), now)).toBe(90_000)
    expect(parseRetryAfter(new Date(now - 90_000).toUTCString(), now)).toBe(0)
    expect(parseRetryAfter('soon')).toBeUndefined()
    expect(parseRetryAfter(undefined)).toBeUndefined()
  })
})
