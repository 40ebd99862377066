import type { SyncClient, SyncEvent } from '@syncfolio/core/client'
import { focusManager, type QueryClient, useQueryClient } from '@tanstack/react-query'
import { useEffect, useInsertionEffect, useRef, useSyncExternalStore } from 'react'
import { type ConnectionChange, invalidateConnectionQueries } from './invalidateConnectionQueries.js'
import { useSyncClient } from './syncfolioContext.js'

export interface LiveUpdatesOptions {
  /** Open the stream at all, e.g. `false` until the user is signed in. @default true */
  enabled?: boolean
  /**
   * Close the stream while the tab is hidden and reopen it when it is shown (the queries refetch on that moment
   * anyway). Each open stream holds one of the browser's few connections per server (6 over HTTP/1.1), shared by
   * every tab; background tabs should not use them up.
   * @default true
   */
  pauseWhenHidden?: boolean
  /** Wait before the first reconnect after the stream ends or fails; doubles per failure, with jitter. @default 1_000 */
  reconnectDelayMs?: number
  /** Longest wait between reconnects. @default 30_000 */
  maxReconnectDelayMs?: number
  /** Called with every event (`sync:start` too), after the affected queries were marked for refetching. @default none */
  onEvent?: (event: SyncEvent) => void
}

/**
 * Listens to the server's sync events (`GET /events`) and refetches what a sync changed at once, instead of at the
 * next poll: `sync:success` refreshes the connection list, the connection's detail and the holdings that include
 * it; `sync:failure` and `connection:disabled` refresh the list and the detail (the balances did not change).
 * Polling stays on as the fallback for whatever the stream misses while it reconnects.
 *
 * Call it once, near the root, inside `<SyncfolioProvider>`. It streams over the client's `fetch` (so the provider's
 * `headers`, e.g. a bearer token, apply; `EventSource` cannot send headers) and reconnects with exponential backoff
 * when the stream ends or fails.
 */
export function useLiveUpdates(options: LiveUpdatesOptions = {}): void {
  const {
    enabled = true,
    pauseWhenHidden = true,
    reconnectDelayMs = 1_000,
    maxReconnectDelayMs = 30_000,
    onEvent,
  } = options
  // A zero or negative delay would reconnect in a tight loop against a server that is down.
  if (!(reconnectDelayMs > 0 && maxReconnectDelayMs >= reconnectDelayMs)) {
    throw new RangeError(
      `useLiveUpdates: options "reconnectDelayMs" and "maxReconnectDelayMs" must satisfy 0 < reconnectDelayMs <= maxReconnectDelayMs; received ${reconnectDelayMs} and ${maxReconnectDelayMs}`,
    )
  }
  const client = useSyncClient()
  const queryClient = useQueryClient()
  // TanStack's own notion of "the tab is visible", so the stream and polling pause and resume together.
  const visible = useSyncExternalStore(subscribeFocus, isFocused, isFocusedOnServer)
  const listener = useRef(onEvent)
  useInsertionEffect(() => {
    listener.current = onEvent
  })

  const open = enabled && (visible || !pauseWhenHidden)
  useEffect(() => {
    if (!open) return
    const controller = new AbortController()
    void streamEvents(client, queryClient, controller.signal, {
      reconnectDelayMs,
      maxReconnectDelayMs,
      onEvent: (event) => listener.current?.(event),
    })
    return () => controller.abort()
  }, [open, client, queryClient, reconnectDelayMs, maxReconnectDelayMs])
}

const subscribeFocus = (onChange: () => void) => focusManager.subscribe(() => onChange())
const isFocused = () => focusManager.isFocused()
const isFocusedOnServer = () => false

interface StreamOptions {
  reconnectDelayMs: number
  maxReconnectDelayMs: number
  onEvent: (event: SyncEvent) => void
}

/** Reads the event stream until `signal` aborts, reconnecting after every end or failure. */
async function streamEvents(
  client: SyncClient,
  queryClient: QueryClient,
  signal: AbortSignal,
  options: StreamOptions,
): Promise<void> {
  const invalidate = batchInvalidations(queryClient, signal)
  let failures = 0
  while (!signal.aborted) {
    const openedAt = Date.now()
    let delivered = false
    try {
      for await (const event of client.events({ signal })) {
        delivered = true
        const change = changeOf(event)
        if (change) invalidate(change)
        try {
          options.onEvent(event)
        } catch (error) {
          // The app's callback must not end the stream; report it where the app will see it.
          reportLater(error)
        }
      }
    } catch {
      // The stream could not open or broke (offline, 401, server restart): retried below; polling covers the gap.
    }
    if (signal.aborted) return
    // A stream that carried events or stayed up a while was healthy: start the backoff over.
    failures = delivered || Date.now() - openedAt >= options.maxReconnectDelayMs ? 0 : failures + 1
    // The first retry waits reconnectDelayMs, each further failure in a row doubles it.
    const delay = Math.min(options.maxReconnectDelayMs, options.reconnectDelayMs * 2 ** Math.max(0, failures - 1))
    // Jitter: tabs that lost the same server do not all come back in the same millisecond.
    await sleep(delay / 2 + Math.random() * (delay / 2), signal)
  }
}

/** Which queries an event makes out of date; null for events that change nothing (`sync:start`). */
function changeOf(event: SyncEvent): ConnectionChange | null {
  const { connectionId } = event
  switch (event.type) {
    case 'sync:success':
      return { connectionId, list: true, detail: true, holdings: true }
    case 'sync:failure':
    case 'connection:disabled':
      return { connectionId, list: true, detail: true, holdings: false }
    default:
      return null
  }
}

/**
 * How long changes are collected before they are invalidated together. A sweep ends many syncs at nearly the same
 * moment; their events arrive within a few milliseconds, in one network chunk or several. Invalidating per event
 * would start (and cancel, and start again) the same list request once per event; collecting them for a moment,
 * far below what anyone sees, refetches each query once.
 */
const BURST_WINDOW_MS = 50

/** Collects the changes of events arriving in a burst and invalidates once for all of them. */
function batchInvalidations(queryClient: QueryClient, signal: AbortSignal): (change: ConnectionChange) => void {
  let pending: ConnectionChange[] = []
  return (change) => {
    pending.push(change)
    if (pending.length > 1) return
    setTimeout(() => {
      const changes = pending
      pending = []
      if (!signal.aborted) void invalidateConnectionQueries(queryClient, changes)
    }, BURST_WINDOW_MS)
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
    function done() {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
  })
}

function reportLater(error: unknown): void {
  setTimeout(() => {
    throw error
  }, 0)
}
