import type { HealthResponse } from '@syncfolio/core/client'
import { syncfolioKeys, useSyncClient } from '@syncfolio/react'
import { type UseQueryResult, useQuery } from '@tanstack/react-query'

/** `GET /health` through the syncfolio client: sweeps, pauses and budgets per exchange. No user data in it. */
export function useHealth(): UseQueryResult<HealthResponse, Error> {
  const client = useSyncClient()
  return useQuery({
    queryKey: [...syncfolioKeys.all, 'health'],
    queryFn: ({ signal }) => client.health({ signal }),
    // Budgets refill and pauses end on their own; the answer is cheap (no store read).
    refetchInterval: 3_000,
  })
}
