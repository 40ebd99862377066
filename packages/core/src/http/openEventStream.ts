import type { SyncEvent } from '../client/contract.js'
import type { Clock, TimerHandle } from '../scheduler/clock.js'
import { COMMON_HEADERS } from './jsonResponse.js'
import type { SyncEventHub } from './syncEventHub.js'

export interface EventStreamOptions {
  /** The request's signal: the stream ends and unsubscribes when it aborts. */
  signal: AbortSignal
  clock: Clock
  heartbeatMs: number
}

/** How long EventSource waits before reconnecting after the stream ends. */
const RETRY_MS = 3_000
/** Chunks a reader may leave unread before the stream is dropped (it reconnects and refetches). */
const MAX_BACKLOG = 256

/**
 * A `text/event-stream` response carrying the user's sync events as `event: <type>` / `data: <json>`, with a
 * `: heartbeat` comment every `heartbeatMs`. Everything it holds (the hub subscription, the heartbeat timer,
 * the abort listener) is released when the request aborts, the reader cancels, or the reader falls too far
 * behind.
 */
export function openEventStream(hub: SyncEventHub, userId: string, options: EventStreamOptions): Response {
  const { signal, clock, heartbeatMs } = options
  const encoder = new TextEncoder()
  let release: () => void = () => undefined

  const body = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        let open = true
        let timer: TimerHandle | undefined
        let unsubscribe: () => void = () => undefined

        const close = (endStream: boolean) => {
          if (!open) return
          open = false
          clock.clearTimeout(timer)
          unsubscribe()
          signal.removeEventListener('abort', onAbort)
          if (endStream) {
            try {
              controller.close()
            } catch {
              // Already closed or cancelled by the reader.
            }
          }
        }
        const onAbort = () => close(true)
        const send = (text: string) => {
          if (!open) return
          if ((controller.desiredSize ?? 0) < -MAX_BACKLOG) return close(true)
          controller.enqueue(encoder.encode(text))
        }
        const beat = () => {
          timer = clock.setTimeout(() => {
            send(': heartbeat\n\n')
            if (open) beat()
          }, heartbeatMs)
        }

        release = () => close(false)
        if (signal.aborted) return close(true)
        signal.addEventListener('abort', onAbort, { once: true })
        send(`retry: ${RETRY_MS}\n: connected\n\n`)
        unsubscribe = hub.subscribe(userId, (event) => send(formatEvent(event)))
        beat()
      },
      cancel() {
        release()
      },
    },
    { highWaterMark: 16 },
  )

  return new Response(body, {
    status: 200,
    headers: {
      ...COMMON_HEADERS,
      'Cache-Control': 'no-store, no-transform',
      'Content-Type': 'text/event-stream; charset=utf-8',
      // nginx buffers proxied responses unless told not to, which would hold events back.
      'X-Accel-Buffering': 'no',
    },
  })
}

function formatEvent(event: SyncEvent): string {
  return `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`
}
