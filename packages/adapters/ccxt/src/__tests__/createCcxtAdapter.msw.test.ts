import { createFakeExchange } from '@syncfolio/testing'
import { fakeExchangeHandlers } from '@syncfolio/testing/msw'
import { setupServer } from 'msw/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCcxtAdapter } from '../createCcxtAdapter.js'

const exchange = createFakeExchange({
  accounts: [
    { exchange: 'binance', apiKey: 'k', secret: 's', balances: [{ asset: 'BTC', free: '0.12345678' }] },
    { exchange: 'okx', apiKey: 'ok', secret: 'os', password: 'op', balances: [{ asset: 'ETH', free: '1.5' }] },
  ],
})
const server = setupServer(...fakeExchangeHandlers(exchange))

beforeAll(() => server.listen({ onUnhandledRequest: 'error' }))
afterAll(() => server.close())

const connection = {
  id: 'c1',
  userId: 'u1',
  exchange: 'binance',
  status: 'active' as const,
  lastSyncAt: null,
  lastAttemptAt: null,
  nextSyncAt: null,
  failureCount: 0,
  lastError: null,
}

describe('createCcxtAdapter under msw', () => {
  it("is seen by msw on the exchanges' real hosts, with no baseUrl and no ccxt option", async () => {
    const signal = new AbortController().signal
    const binance = await createCcxtAdapter('binance').fetchBalances({
      connection,
      credentials: { apiKey: 'k', secret: 's' },
      signal,
    })
    const okx = await createCcxtAdapter('okx').fetchBalances({
      connection,
      credentials: { apiKey: 'ok', secret: 'os', password: 'op' },
      signal,
    })
    expect(binance.balances).toEqual([{ asset: 'BTC', free: '0.12345678', used: '0.00000000', total: '0.12345678' }])
    expect(okx.balances).toEqual([{ asset: 'ETH', free: '1.5', used: '0', total: '1.5' }])
    expect(okx.accountId).toBe(String(exchange.account('okx', 'ok')?.uid))
    expect(exchange.requests.map((entry) => entry.path)).toEqual([
      '/api/v3/account',
      '/api/v5/account/config',
      '/api/v5/account/balance',
    ])
  })
})
