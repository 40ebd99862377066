import type { FakeExchangeId } from '@syncfolio/testing'
import { type DriftingAsset, driftingBalances } from './driftingBalances.js'

/** An account on the local fake exchange, with the keys that open it. */
export interface DemoAccount {
  /** Names the account in the demo endpoints (`/api/demo/keys/:id/revoke`). */
  id: string
  exchange: FakeExchangeId
  label: string
  apiKey: string
  secret: string
  /** OKX's API passphrase. */
  password?: string
  /** Connected for the demo user at startup; the others are there to try "Add connection" with. */
  connectedAtStart: boolean
  assets: readonly DriftingAsset[]
}

/**
 * What the fake Binance and OKX hold. The keys are made up and only open the in-process fake exchange; the UI shows
 * them (Demo keys) so the forms can be tried.
 */
export const DEMO_ACCOUNTS: readonly DemoAccount[] = [
  {
    id: 'binance-main',
    exchange: 'binance',
    label: 'Main account',
    apiKey: 'demo-binance-main-key',
    secret: 'demo-binance-main-secret',
    connectedAtStart: true,
    assets: [
      { asset: 'BTC', free: '0.52341870', used: '0.01000000' },
      { asset: 'ETH', free: '4.12050000' },
      { asset: 'BNB', free: '12.40000000' },
      { asset: 'USDT', free: '2430.55000000', used: '150.00000000' },
    ],
  },
  {
    id: 'okx-trading',
    exchange: 'okx',
    label: 'Trading',
    apiKey: 'demo-okx-trading-key',
    secret: 'demo-okx-trading-secret',
    password: 'demo-okx-trading-passphrase',
    connectedAtStart: true,
    assets: [
      { asset: 'BTC', free: '0.18750000' },
      { asset: 'ETH', free: '1.50000000', used: '0.25' },
      { asset: 'SOL', free: '42.70000000' },
      { asset: 'USDC', free: '980.12000000' },
    ],
  },
  {
    id: 'binance-savings',
    exchange: 'binance',
    label: 'Savings',
    apiKey: 'demo-binance-savings-key',
    secret: 'demo-binance-savings-secret',
    connectedAtStart: false,
    assets: [
      { asset: 'BTC', free: '0.05000000' },
      { asset: 'USDT', free: '10000.00000000' },
    ],
  },
  {
    id: 'okx-bot',
    exchange: 'okx',
    label: 'Grid bot',
    apiKey: 'demo-okx-bot-key',
    secret: 'demo-okx-bot-secret',
    password: 'demo-okx-bot-passphrase',
    connectedAtStart: false,
    assets: [
      { asset: 'SOL', free: '120.00000000' },
      { asset: 'USDT', free: '3500.00000000', used: '500' },
    ],
  },
]

/** The fake exchange's account options of a demo account, with balances that drift over time. */
export function fakeAccountOf(account: DemoAccount, seed: number) {
  const { exchange, apiKey, secret, password } = account
  return { exchange, apiKey, secret, ...(password && { password }), balances: driftingBalances(account.assets, seed) }
}
