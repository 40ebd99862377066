import type { QueryClient } from '@tanstack/react-query'
import { holdingsKeyIncludes, syncfolioKeys } from './syncfolioKeys.js'

/** What changed about one connection, and so which of its queries are out of date. */
export interface ConnectionChange {
  connectionId: string
  /** The connection list shows it (status, times, errors). */
  list: boolean
  /** Its own detail query. */
  detail: boolean
  /** Its balances changed: every holdings query that includes it. */
  holdings: boolean
}

/**
 * Marks the queries the changes touched as stale and refetches those on screen, and only those: the detail of
 * another connection, or holdings filtered to other connections, keep their data and make no request. Several
 * changes (a burst of sync events) refetch the list and each holdings query once. Resolves when the refetches are
 * done, so a mutation stays pending until the screen shows its effect.
 */
export async function invalidateConnectionQueries(
  queryClient: QueryClient,
  changes: readonly ConnectionChange[],
): Promise<void> {
  const work: Promise<void>[] = []
  if (changes.some((change) => change.list)) {
    work.push(queryClient.invalidateQueries({ queryKey: syncfolioKeys.connections(), exact: true }))
  }
  for (const change of changes) {
    if (!change.detail) continue
    work.push(queryClient.invalidateQueries({ queryKey: syncfolioKeys.connection(change.connectionId), exact: true }))
  }
  const balancesChanged = changes.filter((change) => change.holdings).map((change) => change.connectionId)
  if (balancesChanged.length > 0) {
    work.push(
      queryClient.invalidateQueries({
        queryKey: syncfolioKeys.allHoldings(),
        predicate: (query) => balancesChanged.some((id) => holdingsKeyIncludes(query.queryKey, id)),
      }),
    )
  }
  await Promise.all(work)
}
