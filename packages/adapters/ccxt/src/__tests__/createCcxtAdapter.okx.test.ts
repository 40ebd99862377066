import type { Balance, Connection, Credentials, SyncError } from '@syncfolio/core'
import {
  type FakeAccountOptions,
  type FakeBalance,
  FakeClock,
  type FakeExchangeServer,
  startFakeExchange,
} from '@syncfolio/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { ACCOUNT_ID_RETRY_MS } from '../accountIds.js'
import { createCcxtAdapter } from '../createCcxtAdapter.js'

const servers: FakeExchangeServer[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()))
})

/** The fake and the adapter on one clock; ccxt signs with real time, so the fake skips that check. */
async function start(accounts: FakeAccountOptions[]) {
  const clock = new FakeClock(Date.UTC(2026, 0, 1))
  const fake = await startFakeExchange({ clock, checkTimestamps: false, accounts })
  servers.push(fake)
  const adapter = createCcxtAdapter('okx', { baseUrl: fake.url, clock })
  return { clock, fake, adapter }
}

const connection: Connection = {
  id: 'c1',
  userId: 'u1',
  exchange: 'okx',
  status: 'active',
  lastSyncAt: null,
  lastAttemptAt: null,
  nextSyncAt: null,
  failureCount: 0,
  lastError: null,
}

function okxAccount(apiKey: string, extra: Partial<FakeAccountOptions> = {}): FakeAccountOptions {
  return {
    exchange: 'okx',
    apiKey,
    secret: `${apiKey}-secret`,
    password: `${apiKey}-pass`,
    balances: [{ asset: 'BTC', free: '1' }],
    ...extra,
  }
}

function credentialsOf(apiKey: string): Credentials {
  return { apiKey, secret: `${apiKey}-secret`, password: `${apiKey}-pass` }
}

const sync = (adapter: ReturnType<typeof createCcxtAdapter>, apiKey: string) =>
  adapter.fetchBalances({ connection, credentials: credentialsOf(apiKey), signal: new AbortController().signal })

describe('OKX account modes, through real ccxt and the fake exchange', () => {
  // Detail fields as OKX fills them per mode (https://www.okx.com/docs-v5/en/#trading-account-rest-api-get-balance):
  // margin modes fill availEq, eq holds unrealised PnL, a borrowed currency has a negative eq, and amounts come with
  // the float noise of OKX's own arithmetic.
  const modes: Array<{ mode: string; level: '2' | '3' | '4'; balances: FakeBalance[]; expected: Balance[] }> = [
    {
      mode: 'single-currency margin (acctLv 2)',
      level: '2',
      balances: [
        {
          asset: 'BTC',
          free: '0',
          okx: {
            cashBal: '0.5',
            eq: '0.5123456789',
            upl: '0.0123456789',
            availBal: '0.4',
            availEq: '0.4123456789',
            frozenBal: '0.08',
          },
        },
      ],
      expected: [{ asset: 'BTC', free: '0.4123456789', used: '0.08', total: '0.5123456789' }],
    },
    {
      mode: 'multi-currency margin (acctLv 3), borrowing USDT',
      level: '3',
      balances: [
        {
          asset: 'ETH',
          free: '0',
          okx: {
            availBal: '',
            availEq: '0.6612664522199999',
            cashBal: '0.7',
            eq: '0.7412664522199999',
            upl: '0.0412664522199999',
            frozenBal: '0.08',
          },
        },
        {
          asset: 'USDT',
          free: '0',
          okx: {
            availBal: '',
            availEq: '0',
            cashBal: '-1200.5',
            eq: '-1200.61235',
            liab: '1200.61235',
            crossLiab: '1200.61235',
            interest: '0.11235',
            frozenBal: '0',
          },
        },
      ],
      expected: [
        { asset: 'ETH', free: '0.6612664522199999', used: '0.08', total: '0.7412664522199999' },
        { asset: 'USDT', free: '0', used: '0', total: '-1200.61235' },
      ],
    },
    {
      mode: 'portfolio margin (acctLv 4)',
      level: '4',
      balances: [
        {
          asset: 'BTC',
          free: '0',
          okx: {
            availBal: '',
            availEq: '2.3',
            cashBal: '2.5',
            eq: '2.48',
            upl: '-0.02',
            frozenBal: '0.15',
            imr: '0.1',
            mmr: '0.05',
          },
        },
        {
          asset: 'USDT',
          free: '0',
          okx: {
            availBal: '',
            availEq: '15000.123456789012',
            cashBal: '15000.123456789012',
            eq: '15000.123456789012',
            frozenBal: '0',
          },
        },
      ],
      expected: [
        { asset: 'BTC', free: '2.3', used: '0.15', total: '2.48' },
        { asset: 'USDT', free: '15000.123456789012', used: '0', total: '15000.123456789012' },
      ],
    },
  ]

  it.each(modes.map((entry) => [entry.mode, entry] as const))(
    '%s: free from availEq, used from frozenBal, total from eq, digit for digit',
    async (_mode, { level, balances, expected }) => {
      const { adapter } = await start([okxAccount('margin', { okxAccountLevel: level, balances })])
      const result = await sync(adapter, 'margin')
      expect(result.balances).toEqual(expected)
    },
  )
})

describe("OKX's per-user limit", () => {
  it('learns the user id once per key and reports it as accountId; two keys of one user report the same', async () => {
    const { fake, adapter } = await start([
      okxAccount('first', { uid: 777 }),
      okxAccount('second', { uid: 777 }),
      okxAccount('other', { uid: 888 }),
    ])
    for (let round = 0; round < 3; round++) {
      expect((await sync(adapter, 'first')).accountId).toBe('777')
      expect((await sync(adapter, 'second')).accountId).toBe('777')
      expect((await sync(adapter, 'other')).accountId).toBe('888')
    }
    const configs = fake.requests.filter((entry) => entry.path === '/api/v5/account/config')
    expect(configs.map((entry) => entry.apiKey)).toEqual(['first', 'second', 'other'])
  })

  it('is one budget for two keys of one user on the fake, as on OKX; another user is not affected', async () => {
    const { fake, adapter } = await start([
      okxAccount('first', { uid: 777 }),
      okxAccount('second', { uid: 777 }),
      okxAccount('other', { uid: 888 }),
    ])
    for (let call = 0; call < 10; call++) await sync(adapter, 'first')

    const refused = (await sync(adapter, 'second').catch((error: unknown) => error)) as SyncError
    expect({ code: refused.code, scope: refused.scope, retryAfterMs: refused.retryAfterMs }).toEqual({
      code: 'RATE_LIMITED',
      scope: 'account',
      retryAfterMs: 2_000,
    })
    expect(refused.message).toMatch(/code 50011/)
    expect((await sync(adapter, 'other')).accountId).toBe('888')
    const balanceCalls = fake.requests.filter((entry) => entry.path === '/api/v5/account/balance')
    expect(balanceCalls.map((entry) => `${entry.apiKey} ${entry.status}`)).toEqual([
      ...Array.from({ length: 10 }, () => 'first 200'),
      'second 429',
      'other 200',
    ])
  })

  it('a failed lookup fails no sync and is tried again only after a while, not on every sync', async () => {
    const { clock, fake, adapter } = await start([okxAccount('key', { uid: 4242 })])
    const outage = fake.inject({ type: 'error' }, { path: '/api/v5/account/config' })
    const configCalls = () => fake.requests.filter((entry) => entry.path === '/api/v5/account/config').length

    const first = await sync(adapter, 'key')
    expect(first.balances).toEqual([{ asset: 'BTC', free: '1', used: '0', total: '1' }])
    expect(first.accountId).toBeUndefined()
    expect(configCalls()).toBe(1)

    for (let call = 0; call < 5; call++) expect((await sync(adapter, 'key')).accountId).toBeUndefined()
    expect(configCalls()).toBe(1)

    outage.remove()
    await clock.advance(ACCOUNT_ID_RETRY_MS - 1)
    expect((await sync(adapter, 'key')).accountId).toBeUndefined()
    expect(configCalls()).toBe(1)

    await clock.advance(1)
    expect((await sync(adapter, 'key')).accountId).toBe('4242')
    expect((await sync(adapter, 'key')).accountId).toBe('4242')
    expect(configCalls()).toBe(2)
  })
})
