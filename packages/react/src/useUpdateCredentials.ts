import type { ConnectionView, CredentialsInput } from '@syncfolio/core/client'
import { type UseMutationResult, useMutation, useQueryClient } from '@tanstack/react-query'
import { invalidateConnectionQueries } from './invalidateConnectionQueries.js'
import type { SyncfolioMutationOptions } from './queryOptions.js'
import { useSyncClient } from './syncfolioContext.js'
import { syncfolioKeys } from './syncfolioKeys.js'

/** What `useUpdateCredentials().mutate` takes. */
export interface UpdateCredentialsVariables {
  connectionId: string
  credentials: CredentialsInput
}

export interface UseUpdateCredentialsOptions<TContext = unknown> {
  /** TanStack mutation options; `onSuccess` runs after the invalidation. @default none */
  mutation?: SyncfolioMutationOptions<ConnectionView, UpdateCredentialsVariables, TContext>
}

/**
 * Reconnects a connection with new keys (`PUT /connections/:id/credentials`): `mutate({ connectionId,
 * credentials })`. The keys are test-fetched first (`CREDENTIALS_REJECTED`, `EXCHANGE_ERROR`; the old keys stay);
 * on success the connection is `active` and due again. Afterwards the connection list and its detail are
 * refetched; the balances are unchanged until its next sync.
 */
export function useUpdateCredentials<TContext = unknown>(
  options: UseUpdateCredentialsOptions<TContext> = {},
): UseMutationResult<ConnectionView, Error, UpdateCredentialsVariables, TContext> {
  const client = useSyncClient()
  const queryClient = useQueryClient()
  const { mutation } = options
  return useMutation({
    ...mutation,
    mutationKey: syncfolioKeys.mutations.updateCredentials(),
    mutationFn: ({ connectionId, credentials }) => client.updateCredentials(connectionId, credentials),
    onSuccess: async (...args) => {
      const [, { connectionId }] = args
      await invalidateConnectionQueries(queryClient, [{ connectionId, list: true, detail: true, holdings: false }])
      return mutation?.onSuccess?.(...args)
    },
  })
}
