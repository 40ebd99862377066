import type { SyncClient } from '@syncfolio/core/client'
import { createContext, useContext } from 'react'

export interface SyncfolioContextValue {
  client: SyncClient
}

export const SyncfolioContext = createContext<SyncfolioContextValue | null>(null)

/**
 * The `SyncClient` of the nearest `<SyncfolioProvider>`, for calls the hooks do not cover. Throws when there is no
 * provider above, so a missing provider fails loudly at the first render instead of as a hanging query.
 */
export function useSyncClient(): SyncClient {
  const value = useContext(SyncfolioContext)
  if (value === null) {
    throw new Error('syncfolio hooks need a <SyncfolioProvider> above them (inside your <QueryClientProvider>).')
  }
  return value.client
}
