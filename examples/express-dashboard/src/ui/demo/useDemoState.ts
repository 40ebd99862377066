import { type UseQueryResult, useQuery } from '@tanstack/react-query'
import { type DemoState, demoStateSchema } from '../../shared/demoStateSchema.js'

export const DEMO_STATE_KEY = ['demo', 'state'] as const

/** Fetches a demo endpoint and validates its answer; demo endpoints answer the whole state after every action. */
export async function fetchDemoState(path = '', init?: RequestInit): Promise<DemoState> {
  const response = await fetch(`/api/demo${path}`, init)
  if (!response.ok) throw new Error(`The demo server answered ${response.status}.`)
  return demoStateSchema.parse(await response.json())
}

/** The demo's settings and the fake exchange's state (`GET /api/demo`). Demo-only: a real app has no such route. */
export function useDemoState(): UseQueryResult<DemoState, Error> {
  return useQuery({
    queryKey: DEMO_STATE_KEY,
    queryFn: ({ signal }) => fetchDemoState('', { signal }),
    // Also changes when a connection is added or removed ("connected" keys); cheap to ask.
    refetchInterval: 15_000,
  })
}
