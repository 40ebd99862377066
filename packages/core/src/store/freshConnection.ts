import type { Connection } from '../types.js'

/** A connection as `SyncStore.add` creates it: active, never synced, due now. Stores build theirs with it. */
export function freshConnection(id: string, input: { userId: string; exchange: string; label?: string }): Connection {
  return {
    id,
    userId: input.userId,
    exchange: input.exchange,
    ...(input.label !== undefined && { label: input.label }),
    status: 'active',
    lastSyncAt: null,
    lastAttemptAt: null,
    nextSyncAt: null,
    failureCount: 0,
    lastError: null,
  }
}
