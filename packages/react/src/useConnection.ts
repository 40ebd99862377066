import type { ConnectionDetailResponse } from '@syncfolio/core/client'
import { type UseQueryResult, useQuery } from '@tanstack/react-query'
import { POLLING_DEFAULTS, type SyncfolioQueryOptions } from './queryOptions.js'
import { useSyncClient } from './syncfolioContext.js'
import { syncfolioKeys } from './syncfolioKeys.js'

export interface UseConnectionOptions<TData = ConnectionDetailResponse> {
  /**
   * TanStack options; they win over the defaults.
   * @default { refetchInterval: 60_000, refetchIntervalInBackground: false, refetchOnWindowFocus: true, retry: up to 3 times, never after a 4xx }
   */
  query?: SyncfolioQueryOptions<ConnectionDetailResponse, TData>
}

/**
 * One connection with its last synced balances (`GET /connections/:id`). With `id` null or undefined nothing is
 * fetched (the query waits, e.g. for a route parameter). An id that is not the user's fails with `NOT_FOUND`,
 * without retries.
 */
export function useConnection<TData = ConnectionDetailResponse>(
  id: string | null | undefined,
  options: UseConnectionOptions<TData> = {},
): UseQueryResult<TData, Error> {
  const client = useSyncClient()
  const { query } = options
  return useQuery({
    ...POLLING_DEFAULTS,
    ...query,
    // '' is never a connection id; the query is disabled then anyway.
    queryKey: syncfolioKeys.connection(id ?? ''),
    queryFn: ({ signal }) => client.getConnection(id as string, { signal }),
    enabled: id == null || id === '' ? false : (query?.enabled ?? true),
  })
}
