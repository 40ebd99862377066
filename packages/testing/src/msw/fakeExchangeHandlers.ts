import { InvalidOptionError } from '@syncfolio/core'
import { type HttpHandler, http } from 'msw'
import type { FakeExchange } from '../fakeExchange/fakeExchange.js'

/** The hosts ccxt calls for Binance spot (and the futures markets it loads) and for OKX. */
export const EXCHANGE_ORIGINS: readonly string[] = [
  'https://api.binance.com',
  'https://fapi.binance.com',
  'https://dapi.binance.com',
  'https://www.okx.com',
]

export interface FakeExchangeHandlersOptions {
  /**
   * Origins to answer on, e.g. `https://fake-exchange.test` when ccxt is pointed there with `baseUrl`.
   * @default the exchanges' real API hosts (`EXCHANGE_ORIGINS`), so ccxt needs no repointing
   */
  origins?: readonly string[]
  /** The caller's IP as the fake counts Binance weight per IP. @default '127.0.0.1' */
  ip?: string
}

/**
 * msw 2 request handlers that answer with a FakeExchange: the same protocol, limits, faults and request log as
 * `startFakeExchange`, without a port.
 *
 * ccxt sends its requests through its own HTTP client unless it is given a fetch, so msw sees them only when
 * ccxt gets `fetchImplementation: (url, init) => fetch(url, init)` (`createCcxtAdapter` always does).
 *
 * ```ts
 * const exchange = createFakeExchange({ accounts: [...] })
 * const server = setupServer(...fakeExchangeHandlers(exchange))
 * ```
 */
export function fakeExchangeHandlers(exchange: FakeExchange, options: FakeExchangeHandlersOptions = {}): HttpHandler[] {
  const { origins = EXCHANGE_ORIGINS, ip = '127.0.0.1' } = options
  if (!Array.isArray(origins) || origins.length === 0) {
    throw new InvalidOptionError('fakeExchangeHandlers', 'origins', 'must be a non-empty array of origins', origins)
  }
  return origins.map((origin, index) => {
    let parsed: URL
    try {
      parsed = new URL(origin)
    } catch {
      throw new InvalidOptionError('fakeExchangeHandlers', `origins.${index}`, 'must be an absolute URL', origin)
    }
    return http.all(`${parsed.origin}/*`, ({ request }) => exchange.handle(request, { ip }))
  })
}
