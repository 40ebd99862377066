import type { ConnectionView } from '@syncfolio/core/client'
import { type UseQueryResult, useQuery } from '@tanstack/react-query'
import { POLLING_DEFAULTS, type SyncfolioQueryOptions } from './queryOptions.js'
import { useSyncClient } from './syncfolioContext.js'
import { syncfolioKeys } from './syncfolioKeys.js'

export interface UseConnectionsOptions<TData = ConnectionView[]> {
  /**
   * TanStack options; they win over the defaults.
   * @default { refetchInterval: 60_000, refetchIntervalInBackground: false, refetchOnWindowFocus: true, retry: up to 3 times, never after a 4xx }
   */
  query?: SyncfolioQueryOptions<ConnectionView[], TData>
}

/** The signed-in user's connections with their sync status (`GET /connections`), oldest first. */
export function useConnections<TData = ConnectionView[]>(
  options: UseConnectionsOptions<TData> = {},
): UseQueryResult<TData, Error> {
  const client = useSyncClient()
  return useQuery({
    ...POLLING_DEFAULTS,
    ...options.query,
    queryKey: syncfolioKeys.connections(),
    queryFn: ({ signal }) => client.listConnections({ signal }),
  })
}
