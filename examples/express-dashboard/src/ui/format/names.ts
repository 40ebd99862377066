/** Display names of exchanges; unknown ids are shown as they are. */
export const EXCHANGE_NAMES: Readonly<Record<string, string>> = { binance: 'Binance', okx: 'OKX' }

export function exchangeName(id: string): string {
  return EXCHANGE_NAMES[id] ?? id
}

/** Display names of the demo's assets; others show only their symbol. */
export const ASSET_NAMES: Readonly<Record<string, string>> = {
  BTC: 'Bitcoin',
  ETH: 'Ether',
  SOL: 'Solana',
  USDT: 'Tether USD',
  USDC: 'USD Coin',
}

/** What a SyncError code means for the person looking at the screen. */
const SYNC_ERROR_TEXT: Readonly<Record<string, string>> = {
  AUTH_FAILED: 'the exchange refused the API key',
  PERMISSION_DENIED: 'the API key lacks read permission',
  ACCOUNT_SUSPENDED: 'the account is suspended',
  RATE_LIMITED: 'rate limited by the exchange',
  NETWORK: 'the exchange could not be reached',
  TIMEOUT: 'the exchange did not answer in time',
  EXCHANGE_UNAVAILABLE: 'the exchange is unavailable',
  INVALID_RESPONSE: 'the exchange sent an answer we could not read',
  UNKNOWN: 'an unexpected error',
}

export function syncErrorText(code: string): string {
  return SYNC_ERROR_TEXT[code] ?? code
}
