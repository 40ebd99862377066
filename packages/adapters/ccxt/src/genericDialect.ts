import { type Balance, sumDecimals } from '@syncfolio/core'
import { type ExchangeDialect, invalidResponse, pushBalance } from './exchangeDialect.js'
import { amountToDecimal, isZeroDecimal, subtractDecimals } from './toPlainDecimal.js'

/** The unified fields of a ccxt balance structure that are not currencies. */
const NOT_CURRENCIES = new Set(['info', 'timestamp', 'datetime', 'free', 'used', 'total', 'debt'])

/**
 * Any other ccxt exchange: the unified `fetchBalance()`, whose amounts ccxt has already turned into floats.
 * They are written back as plain decimal strings (no exponent), exact up to what a float holds: about 16
 * significant digits.
 */
export function genericDialect(exchangeId: string): ExchangeDialect {
  return {
    needsMarkets: true,
    fetch: (instance) => instance.fetchBalance(),
    parse(response) {
      const result = response as Record<string, unknown> | null
      if (typeof result !== 'object' || result === null || typeof result.total !== 'object' || result.total === null) {
        throw invalidResponse(exchangeId, 'ccxt returned no "total" map')
      }
      const totals = result.total as Record<string, unknown>
      const frees = (result.free ?? {}) as Record<string, unknown>
      const useds = (result.used ?? {}) as Record<string, unknown>
      const codes = new Set([...Object.keys(totals), ...Object.keys(frees), ...Object.keys(useds)])
      for (const key of Object.keys(result)) if (!NOT_CURRENCIES.has(key)) codes.add(key)
      const balances = new Map<string, Balance>()
      for (const asset of codes) {
        const account = (result[asset] ?? {}) as Record<string, unknown>
        let total = amountToDecimal(totals[asset] ?? account.total)
        let free = amountToDecimal(frees[asset] ?? account.free)
        let used = amountToDecimal(useds[asset] ?? account.used)
        if (total === undefined && free !== undefined && used !== undefined) total = sumDecimals([free, used])
        if (total === undefined) continue
        if (free === undefined) free = used === undefined ? total : subtractDecimals(total, used)
        if (used === undefined) used = subtractDecimals(total, free)
        if (isZeroDecimal(total) && isZeroDecimal(free) && isZeroDecimal(used)) continue
        pushBalance(balances, { asset, free, used, total })
      }
      return [...balances.values()]
    },
    errorCode: () => undefined,
    meaning: () => undefined,
    statusLimitScope: 'exchange',
    usedWeight: () => undefined,
  }
}
