import type { SyncNowResponse } from '@syncfolio/core/client'
import { type UseMutationResult, useMutation, useQueryClient } from '@tanstack/react-query'
import { invalidateConnectionQueries } from './invalidateConnectionQueries.js'
import type { SyncfolioMutationOptions } from './queryOptions.js'
import { useSyncClient } from './syncfolioContext.js'
import { syncfolioKeys } from './syncfolioKeys.js'

export interface UseSyncNowOptions<TContext = unknown> {
  /** TanStack mutation options; `onSuccess` runs after the invalidation. @default none */
  mutation?: SyncfolioMutationOptions<SyncNowResponse, string, TContext>
}

/**
 * Syncs one connection now (`POST /connections/:id/sync`): `mutate(connectionId)`. Resolves with the outcome
 * (`success`, `failure` or `pending`); a failed sync is an outcome, not an error. Rejects with `SYNC_THROTTLED`
 * (see `error.retryAfterMs`) when asked again too soon. Afterwards the connection list and the connection's detail
 * are refetched, and the holdings that include it when balances came back.
 */
export function useSyncNow<TContext = unknown>(
  options: UseSyncNowOptions<TContext> = {},
): UseMutationResult<SyncNowResponse, Error, string, TContext> {
  const client = useSyncClient()
  const queryClient = useQueryClient()
  const { mutation } = options
  return useMutation({
    ...mutation,
    mutationKey: syncfolioKeys.mutations.syncNow(),
    mutationFn: (connectionId) => client.syncNow(connectionId),
    onSuccess: async (...args) => {
      const [response, connectionId] = args
      await invalidateConnectionQueries(queryClient, [
        { connectionId, list: true, detail: true, holdings: response.outcome === 'success' },
      ])
      return mutation?.onSuccess?.(...args)
    },
  })
}
