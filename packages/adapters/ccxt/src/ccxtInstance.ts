import * as ccxtModule from 'ccxt'

/** The part of a ccxt exchange instance the adapter uses (implicit API methods are looked up by name). */
export interface CcxtInstance {
  readonly id: string
  apiKey: string | undefined
  secret: string | undefined
  password: string | undefined
  uid: string | undefined
  options: Record<string, unknown>
  urls: Record<string, unknown>
  markets: unknown
  accounts: unknown
  accountsById: unknown
  last_http_response: unknown
  last_response_headers: unknown
  last_json_response: unknown
  setMarkets(markets: unknown[], currencies?: unknown): unknown
  setMarketsFromExchange(source: CcxtInstance): unknown
  loadMarkets(reload?: boolean): Promise<unknown>
  fetchBalance(params?: Record<string, unknown>): Promise<Record<string, unknown>>
  safeCurrencyCode(currencyId: string): string
  implodeHostname(url: string): string
}

type ExchangeClass = new (config: Record<string, unknown>) => unknown

/** Exchange ids this ccxt build knows, from its named exports (the `exchanges` export differs between ESM and CJS). */
export function ccxtExchangeIds(): string[] {
  const exports = ccxtModule as unknown as Record<string, unknown>
  return Object.keys(exports).filter((name) => exchangeClass(name) !== undefined)
}

export function exchangeClass(exchangeId: string): ExchangeClass | undefined {
  if (!/^[a-z][a-z0-9]*$/.test(exchangeId)) return undefined
  const candidate = (ccxtModule as unknown as Record<string, unknown>)[exchangeId]
  if (typeof candidate !== 'function') return undefined
  const prototype = (candidate as { prototype?: { fetchBalance?: unknown } }).prototype
  return typeof prototype?.fetchBalance === 'function' ? (candidate as ExchangeClass) : undefined
}

/** Calls an implicit API method such as `privateGetAccount`, which ccxt defines per exchange at run time. */
export function callImplicit(
  instance: CcxtInstance,
  method: string,
  params: Record<string, unknown> = {},
): Promise<unknown> {
  const fn = (instance as unknown as Record<string, unknown>)[method]
  if (typeof fn !== 'function') throw new TypeError(`${instance.id} has no method ${method}`)
  return (fn as (params: Record<string, unknown>) => Promise<unknown>).call(instance, params)
}
