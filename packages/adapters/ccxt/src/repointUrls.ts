import type { CcxtInstance } from './ccxtInstance.js'

const ORIGIN = /^[a-z][a-z0-9+.-]*:\/\/[^/]+/i

/**
 * Points every API URL of a ccxt instance at `baseUrl`, keeping each URL's path: Binance's
 * `https://api.binance.com/api/v3` becomes `${baseUrl}/api/v3`, `https://fapi.binance.com/fapi/v1`
 * `${baseUrl}/fapi/v1`, OKX's `https://{hostname}` `${baseUrl}`. The instance gets its own `urls` object, so
 * other instances and the exchange class are untouched.
 */
export function repointUrls(instance: CcxtInstance, baseUrl: string): void {
  const base = baseUrl.replace(/\/+$/, '')
  const rewrite = (value: unknown): unknown => {
    if (typeof value === 'string') return instance.implodeHostname(value).replace(ORIGIN, base)
    if (Array.isArray(value)) return value.map(rewrite)
    if (typeof value === 'object' && value !== null) {
      return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, rewrite(entry)]))
    }
    return value
  }
  instance.urls = { ...instance.urls, api: rewrite(instance.urls.api) }
}
