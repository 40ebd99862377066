import type { ConnectionView, NewConnectionInput } from '@syncfolio/core/client'
import { type UseMutationResult, useMutation, useQueryClient } from '@tanstack/react-query'
import { invalidateConnectionQueries } from './invalidateConnectionQueries.js'
import type { SyncfolioMutationOptions } from './queryOptions.js'
import { useSyncClient } from './syncfolioContext.js'
import { syncfolioKeys } from './syncfolioKeys.js'

export interface UseAddConnectionOptions<TContext = unknown> {
  /** TanStack mutation options; `onSuccess` runs after the invalidation. @default none */
  mutation?: SyncfolioMutationOptions<ConnectionView, NewConnectionInput, TContext>
}

/**
 * Adds a connection (`POST /connections`): `mutate({ exchange, label?, credentials })`. The server test-fetches the
 * keys first; it rejects with `VALIDATION_FAILED` (see `error.issues`), `CREDENTIALS_REJECTED` or `EXCHANGE_ERROR`,
 * and nothing is stored then. Afterwards the connection list and the unfiltered holdings are refetched.
 */
export function useAddConnection<TContext = unknown>(
  options: UseAddConnectionOptions<TContext> = {},
): UseMutationResult<ConnectionView, Error, NewConnectionInput, TContext> {
  const client = useSyncClient()
  const queryClient = useQueryClient()
  const { mutation } = options
  return useMutation({
    ...mutation,
    mutationKey: syncfolioKeys.mutations.addConnection(),
    mutationFn: (input) => client.addConnection(input),
    onSuccess: async (...args) => {
      const [connection] = args
      // A new connection has no balances until its first sync, but the unfiltered holdings list its id (and
      // their `asOf` becomes null), so they are out of date too.
      await invalidateConnectionQueries(queryClient, [
        { connectionId: connection.id, list: true, detail: false, holdings: true },
      ])
      return mutation?.onSuccess?.(...args)
    },
  })
}
