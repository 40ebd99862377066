import { type SyncEvent, syncEventSchema } from './contract.js'

/**
 * The sync event in one SSE message of `GET /events`, validated against the contract; null for anything else
 * (an event type this client does not know, malformed data). Pass the `data` string, or an EventSource
 * `MessageEvent` as it is:
 *
 * ```ts
 * for (const type of SYNC_EVENT_TYPES) source.addEventListener(type, (message) => {
 *   const event = parseSyncEvent(message)
 *   if (event) queryClient.invalidateQueries(...)
 * })
 * ```
 */
export function parseSyncEvent(message: string | { data: unknown }): SyncEvent | null {
  const data = typeof message === 'string' ? message : message.data
  if (typeof data !== 'string') return null
  let value: unknown
  try {
    value = JSON.parse(data)
  } catch {
    return null
  }
  const parsed = syncEventSchema.safeParse(value)
  return parsed.success ? parsed.data : null
}
