import { SYNC_ERROR_CODES, SyncError, type SyncErrorCode, type SyncSchedulerEvents } from '@syncfolio/core'

/** The events every process of the cluster re-emits, whichever process they happened in. */
export const CLUSTER_EVENTS = [
  'sync:start',
  'sync:success',
  'sync:failure',
  'sweep:end',
  'connection:disabled',
  'ratelimit',
] as const satisfies ReadonlyArray<keyof SyncSchedulerEvents>

export type ClusterEventName = (typeof CLUSTER_EVENTS)[number]

/**
 * One message on the cluster's channel: an event, or the answer to a manual sync that a worker turned away
 * without running it (a pause past its deadline, a removed connection), for the process whose `syncNow` waits.
 */
export type ClusterMessage =
  | { kind: 'event'; name: ClusterEventName; payload: Parameters<SyncSchedulerEvents[ClusterEventName]>[0] }
  | { kind: 'refused'; connectionId: string; error: SyncError }

interface WireError {
  code: SyncErrorCode
  message: string
  retryAfterMs?: number
  scope?: 'exchange' | 'account'
}

/** JSON for the channel; a SyncError travels as its code, message, `retryAfterMs` and `scope` (never its cause). */
export function encodeMessage(message: ClusterMessage): string {
  return JSON.stringify(message, (key, value: unknown) => {
    if (key === 'error' && value instanceof SyncError) return wireError(value)
    return value
  })
}

/** The message, or null for anything that is not one of ours (another version, a stray publish). */
export function decodeMessage(text: string): ClusterMessage | null {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return null
  }
  if (typeof parsed !== 'object' || parsed === null) return null
  const message = parsed as Record<string, unknown>
  if (message.kind === 'refused') {
    if (typeof message.connectionId !== 'string' || !isWireError(message.error)) return null
    return { kind: 'refused', connectionId: message.connectionId, error: toSyncError(message.error) }
  }
  if (message.kind !== 'event' || !CLUSTER_EVENTS.includes(message.name as ClusterEventName)) return null
  const payload = message.payload as Record<string, unknown> | null
  if (typeof payload !== 'object' || payload === null) return null
  if ('error' in payload) {
    if (!isWireError(payload.error)) return null
    payload.error = toSyncError(payload.error)
  }
  return message as ClusterMessage
}

function wireError(error: SyncError): WireError {
  const wire: WireError = { code: error.code, message: error.message }
  if (error.retryAfterMs !== undefined) wire.retryAfterMs = error.retryAfterMs
  if (error.scope !== undefined) wire.scope = error.scope
  return wire
}

function isWireError(value: unknown): value is WireError {
  const error = value as WireError | null
  return (
    typeof error === 'object' && error !== null && typeof error.code === 'string' && typeof error.message === 'string'
  )
}

function toSyncError(wire: WireError): SyncError {
  const code = SYNC_ERROR_CODES.includes(wire.code) ? wire.code : 'UNKNOWN'
  return new SyncError(code, wire.message, { retryAfterMs: wire.retryAfterMs, scope: wire.scope })
}
