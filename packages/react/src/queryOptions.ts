import { isSyncApiError } from '@syncfolio/core/client'
import type { QueryKey, UseMutationOptions, UseQueryOptions } from '@tanstack/react-query'

/**
 * TanStack Query options for a syncfolio query, passed as `query`. The key and the fetch function are syncfolio's;
 * everything else (`select`, `enabled`, `staleTime`, `refetchInterval`, `placeholderData`...) is yours and wins over
 * the defaults.
 */
export type SyncfolioQueryOptions<TQueryFnData, TData = TQueryFnData> = Omit<
  UseQueryOptions<TQueryFnData, Error, TData, QueryKey>,
  'queryKey' | 'queryFn'
>

/**
 * TanStack Query options for a syncfolio mutation, passed as `mutation`. Your `onSuccess` runs after the queries the
 * mutation changed are invalidated; the other callbacks are passed through as they are.
 */
export type SyncfolioMutationOptions<TData, TVariables, TContext = unknown> = Omit<
  UseMutationOptions<TData, Error, TVariables, TContext>,
  'mutationFn' | 'mutationKey'
>

/**
 * Retries a failed read up to 3 times, except when the server answered 4xx: not signed in, not found or a bad
 * request will not change by asking again.
 */
export function retryUnlessClientError(failureCount: number, error: Error): boolean {
  if (isSyncApiError(error) && error.status >= 400 && error.status < 500) return false
  return failureCount < 3
}

/**
 * The defaults of the polling hooks (`useConnections`, `useConnection`, `useHoldings`). The server syncs in the
 * background about once a minute, so polling every 60 s shows each sync within about a minute even without
 * `useLiveUpdates`. A hidden tab does not poll (nobody looks at it); it refetches as soon as it is shown again.
 */
export const POLLING_DEFAULTS = {
  refetchInterval: 60_000,
  refetchIntervalInBackground: false,
  refetchOnWindowFocus: true,
  retry: retryUnlessClientError,
} as const
