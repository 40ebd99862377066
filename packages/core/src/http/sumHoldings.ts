import { sumDecimals } from '../balances/decimal.js'
import type { Holding } from '../client/contract.js'
import type { Balance, Connection } from '../types.js'

/**
 * Balances summed exactly (decimal strings, no floats) by asset across connections, sorted by asset, with
 * `asOf`: the oldest `lastSyncAt`, or null when there is no connection or one has never synced.
 */
export function sumHoldings(entries: ReadonlyArray<{ connection: Connection; balances: readonly Balance[] }>): {
  holdings: Holding[]
  asOf: number | null
} {
  const byAsset = new Map<string, { free: string[]; used: string[]; total: string[] }>()
  let asOf: number | null = null
  let complete = entries.length > 0
  for (const { connection, balances } of entries) {
    if (connection.lastSyncAt === null) complete = false
    else asOf = asOf === null ? connection.lastSyncAt : Math.min(asOf, connection.lastSyncAt)
    for (const balance of balances) {
      let amounts = byAsset.get(balance.asset)
      if (!amounts) byAsset.set(balance.asset, (amounts = { free: [], used: [], total: [] }))
      amounts.free.push(balance.free)
      amounts.used.push(balance.used)
      amounts.total.push(balance.total)
    }
  }
  const holdings = [...byAsset]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([asset, amounts]) => ({
      asset,
      free: sumDecimals(amounts.free),
      used: sumDecimals(amounts.used),
      total: sumDecimals(amounts.total),
    }))
  return { holdings, asOf: complete ? asOf : null }
}
