import type { HoldingsResponse } from '@syncfolio/core/client'
import { type UseQueryResult, useQuery } from '@tanstack/react-query'
import { POLLING_DEFAULTS, type SyncfolioQueryOptions } from './queryOptions.js'
import { useSyncClient } from './syncfolioContext.js'
import { normalizeConnectionIds, syncfolioKeys } from './syncfolioKeys.js'

export interface UseHoldingsOptions<TData = HoldingsResponse> {
  /**
   * Sum only these connections; `[]` selects none. The order does not matter (it is not part of the cache key).
   * @default every connection of the user
   */
  connectionIds?: readonly string[]
  /**
   * TanStack options; they win over the defaults.
   * @default { refetchInterval: 60_000, refetchIntervalInBackground: false, refetchOnWindowFocus: true, retry: up to 3 times, never after a 4xx }
   */
  query?: SyncfolioQueryOptions<HoldingsResponse, TData>
}

/**
 * Balances summed exactly by asset across the user's connections (`GET /holdings`), with `asOf`: the oldest
 * `lastSyncAt` among them (null while one has never synced). Pass `asOf` to `<StalenessBadge>`.
 */
export function useHoldings<TData = HoldingsResponse>(
  options: UseHoldingsOptions<TData> = {},
): UseQueryResult<TData, Error> {
  const client = useSyncClient()
  const connectionIds = normalizeConnectionIds(options.connectionIds)
  return useQuery({
    ...POLLING_DEFAULTS,
    ...options.query,
    queryKey: syncfolioKeys.holdings(connectionIds ?? undefined),
    queryFn: ({ signal }) => client.getHoldings(connectionIds === null ? { signal } : { connectionIds, signal }),
  })
}
