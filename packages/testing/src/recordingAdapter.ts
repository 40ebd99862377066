import type { ExchangeAdapter, FetchBalancesRequest, FetchBalancesResult } from '@syncfolio/core'

export interface RecordingAdapter extends ExchangeAdapter {
  /** Every call, in order: connection id, API key, and the signal it was given. */
  readonly calls: Array<{ connectionId: string; apiKey: string; signal: AbortSignal }>
  /** Calls in flight now. */
  readonly inFlight: number
  /** Most calls ever in flight at once. */
  readonly maxInFlight: number
}

/**
 * Wraps an adapter function and records what the scheduler does with it: which connections it syncs, with which
 * key, and how many calls overlap. For pinning concurrency and isolation in tests.
 */
export function recordingAdapter(
  id: string,
  handler: (request: FetchBalancesRequest) => Promise<FetchBalancesResult> | FetchBalancesResult = () => ({
    balances: [],
  }),
): RecordingAdapter {
  const calls: RecordingAdapter['calls'] = []
  let inFlight = 0
  let maxInFlight = 0
  return {
    id,
    calls,
    get inFlight() {
      return inFlight
    },
    get maxInFlight() {
      return maxInFlight
    },
    async fetchBalances(request) {
      calls.push({ connectionId: request.connection.id, apiKey: request.credentials.apiKey, signal: request.signal })
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      try {
        return await handler(request)
      } finally {
        inFlight--
      }
    },
  }
}
