import type { Connection } from '../types.js'

/** A connection snapshot for keys not stored yet, for the adapter's `connection` argument. */
export function draftConnection(input: { userId: string; exchange: string; label?: string }): Connection {
  return {
    id: `unsaved-${globalThis.crypto.randomUUID()}`,
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
