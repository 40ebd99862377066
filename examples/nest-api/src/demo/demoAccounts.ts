import type { FakeAccountOptions } from '@syncfolio/testing'

/** An account on the local fake exchange, and the app user who has connected it (null: nobody yet). */
export interface DemoAccount extends FakeAccountOptions {
  userId: string | null
  label: string
}

/**
 * What the fake Binance and OKX hold. Alice and Bob have connected three of the accounts at startup; Bob's OKX
 * keys are left for you to connect through the API (see the README).
 */
export const DEMO_ACCOUNTS: readonly DemoAccount[] = [
  {
    userId: 'alice',
    label: 'Alice on Binance',
    exchange: 'binance',
    apiKey: 'demo-alice-binance-key',
    secret: 'demo-alice-binance-secret',
    balances: [
      { asset: 'BTC', free: '0.50000000', used: '0.01000000' },
      { asset: 'USDT', free: '1250.75' },
    ],
  },
  {
    userId: 'alice',
    label: 'Alice on OKX',
    exchange: 'okx',
    apiKey: 'demo-alice-okx-key',
    secret: 'demo-alice-okx-secret',
    password: 'demo-alice-okx-passphrase',
    balances: [
      { asset: 'BTC', free: '0.25' },
      { asset: 'ETH', free: '3.1' },
    ],
  },
  {
    userId: 'bob',
    label: 'Bob on Binance',
    exchange: 'binance',
    apiKey: 'demo-bob-binance-key',
    secret: 'demo-bob-binance-secret',
    balances: [{ asset: 'ETH', free: '10' }],
  },
  {
    userId: null,
    label: 'Bob on OKX',
    exchange: 'okx',
    apiKey: 'demo-bob-okx-key',
    secret: 'demo-bob-okx-secret',
    password: 'demo-bob-okx-passphrase',
    balances: [{ asset: 'SOL', free: '42.5' }],
  },
]
