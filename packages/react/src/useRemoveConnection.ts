import { type UseMutationResult, useMutation, useQueryClient } from '@tanstack/react-query'
import { invalidateConnectionQueries } from './invalidateConnectionQueries.js'
import type { SyncfolioMutationOptions } from './queryOptions.js'
import { useSyncClient } from './syncfolioContext.js'
import { syncfolioKeys } from './syncfolioKeys.js'

export interface UseRemoveConnectionOptions<TContext = unknown> {
  /** TanStack mutation options; `onSuccess` runs after the cache is updated. @default none */
  mutation?: SyncfolioMutationOptions<void, string, TContext>
}

/**
 * Removes a connection (`DELETE /connections/:id`): `mutate(connectionId)`. Afterwards its detail is dropped from
 * the cache (refetching it would only be a 404), and the connection list and the holdings that included it are
 * refetched.
 */
export function useRemoveConnection<TContext = unknown>(
  options: UseRemoveConnectionOptions<TContext> = {},
): UseMutationResult<void, Error, string, TContext> {
  const client = useSyncClient()
  const queryClient = useQueryClient()
  const { mutation } = options
  return useMutation({
    ...mutation,
    mutationKey: syncfolioKeys.mutations.removeConnection(),
    mutationFn: (connectionId) => client.removeConnection(connectionId),
    onSuccess: async (...args) => {
      const [, connectionId] = args
      queryClient.removeQueries({ queryKey: syncfolioKeys.connection(connectionId), exact: true })
      await invalidateConnectionQueries(queryClient, [{ connectionId, list: true, detail: false, holdings: true }])
      return mutation?.onSuccess?.(...args)
    },
  })
}
