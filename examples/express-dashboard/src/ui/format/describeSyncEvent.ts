import type { SyncEvent } from '@syncfolio/react'
import { syncErrorText } from './names.js'

/**
 * One line for the activity list: what happened, and which process ran the sync when a cluster scheduler says so
 * (`worker` on the event; absent in one process).
 */
export function describeSyncEvent(event: SyncEvent): string {
  const worker = 'worker' in event && event.worker !== undefined ? ` · on ${event.worker}` : ''
  switch (event.type) {
    case 'sync:success':
      return `Synced${event.trigger === 'manual' ? ' (manual)' : ''} in ${event.finishedAt - event.startedAt} ms${worker}`
    case 'sync:failure':
      return `Failed${event.trigger === 'manual' ? ' (manual)' : ''}: ${syncErrorText(event.error.code)}${worker}`
    case 'connection:disabled':
      return `Needs new keys: ${syncErrorText(event.error.code)}`
    default:
      return `${event.type}${worker}`
  }
}
