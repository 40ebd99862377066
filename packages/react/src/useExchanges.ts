import { type UseQueryResult, useQuery } from '@tanstack/react-query'
import { retryUnlessClientError, type SyncfolioQueryOptions } from './queryOptions.js'
import { useSyncClient } from './syncfolioContext.js'
import { syncfolioKeys } from './syncfolioKeys.js'

export interface UseExchangesOptions<TData = string[]> {
  /**
   * TanStack options; they win over the defaults.
   * @default { staleTime: Infinity, retry: up to 3 times, never after a 4xx }
   */
  query?: SyncfolioQueryOptions<string[], TData>
}

/**
 * The exchange ids a connection can be added for (`GET /exchanges`), e.g. for the select of an "add connection"
 * form. Fetched once: the list only changes when the server is redeployed, so it is not polled.
 */
export function useExchanges<TData = string[]>(options: UseExchangesOptions<TData> = {}): UseQueryResult<TData, Error> {
  const client = useSyncClient()
  return useQuery({
    staleTime: Number.POSITIVE_INFINITY,
    retry: retryUnlessClientError,
    ...options.query,
    queryKey: syncfolioKeys.exchanges(),
    queryFn: ({ signal }) => client.listExchanges({ signal }),
  })
}
