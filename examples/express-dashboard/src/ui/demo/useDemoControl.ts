import { type UseMutationResult, useMutation, useQueryClient } from '@tanstack/react-query'
import type { DemoState } from '../../shared/demoStateSchema.js'
import { DEMO_STATE_KEY, fetchDemoState } from './useDemoState.js'

/** `exchanges/binance/fail`, `keys/okx-trading/revoke`...: one demo control, acting on the fake exchange. */
export type DemoControlPath = `exchanges/${string}/${'fail' | 'recover'}` | `keys/${string}/${'revoke' | 'restore'}`

/** Runs a demo control and puts the new demo state in the cache. */
export function useDemoControl(): UseMutationResult<DemoState, Error, DemoControlPath> {
  const queryClient = useQueryClient()
  return useMutation({
    mutationFn: (path) => fetchDemoState(`/${path}`, { method: 'POST' }),
    onSuccess: (state) => queryClient.setQueryData(DEMO_STATE_KEY, state),
  })
}
