import type { SyncEvent } from '../client/contract.js'
import type { SyncError } from '../errors/syncError.js'
import type {
  ConnectionDisabledEvent,
  SyncFailureEvent,
  SyncStartEvent,
  SyncSuccessEvent,
} from '../scheduler/events.js'
import type { SyncHandlerScheduler } from './options.js'

interface Subscription {
  deliver: (event: SyncEvent) => void
}

/**
 * Relays scheduler events to the event streams of their users. One set of scheduler listeners serves every
 * stream, attached with the first subscriber and removed with the last, and each event reaches only its own
 * user's streams (a map lookup, not a filter run by every stream).
 */
export class SyncEventHub {
  readonly #scheduler: SyncHandlerScheduler
  readonly #byUser = new Map<string, Set<Subscription>>()
  #count = 0
  readonly #onStart = (event: SyncStartEvent) =>
    this.#publish(event.userId, {
      type: 'sync:start',
      connectionId: event.connectionId,
      exchange: event.exchange,
      trigger: event.trigger,
      ...workerOf(event),
      startedAt: event.startedAt,
    })
  readonly #onSuccess = (event: SyncSuccessEvent) =>
    this.#publish(event.userId, {
      type: 'sync:success',
      connectionId: event.connectionId,
      exchange: event.exchange,
      trigger: event.trigger,
      ...workerOf(event),
      startedAt: event.startedAt,
      finishedAt: event.finishedAt,
      nextSyncAt: event.nextSyncAt,
    })
  readonly #onFailure = (event: SyncFailureEvent) =>
    this.#publish(event.userId, {
      type: 'sync:failure',
      connectionId: event.connectionId,
      exchange: event.exchange,
      trigger: event.trigger,
      ...workerOf(event),
      startedAt: event.startedAt,
      finishedAt: event.finishedAt,
      nextSyncAt: event.nextSyncAt,
      disabled: event.disabled,
      error: errorView(event.error),
    })
  readonly #onDisabled = (event: ConnectionDisabledEvent) =>
    this.#publish(event.userId, {
      type: 'connection:disabled',
      connectionId: event.connectionId,
      exchange: event.exchange,
      error: errorView(event.error),
    })

  constructor(scheduler: SyncHandlerScheduler) {
    this.#scheduler = scheduler
  }

  /** Streams open now, across users. */
  get size(): number {
    return this.#count
  }

  /** Delivers the user's events to `deliver` until the returned function is called (idempotent). */
  subscribe(userId: string, deliver: (event: SyncEvent) => void): () => void {
    if (this.#count === 0) this.#attach()
    this.#count++
    const subscription: Subscription = { deliver }
    let set = this.#byUser.get(userId)
    if (!set) this.#byUser.set(userId, (set = new Set()))
    set.add(subscription)
    let subscribed = true
    return () => {
      if (!subscribed) return
      subscribed = false
      const current = this.#byUser.get(userId)
      current?.delete(subscription)
      if (current?.size === 0) this.#byUser.delete(userId)
      if (--this.#count === 0) this.#detach()
    }
  }

  #publish(userId: string, event: SyncEvent): void {
    const set = this.#byUser.get(userId)
    if (!set) return
    for (const subscription of [...set]) {
      try {
        subscription.deliver(event)
      } catch {
        // One broken stream must not keep the event from the user's other tabs; the stream closes itself.
      }
    }
  }

  #attach(): void {
    const scheduler = this.#scheduler
    scheduler.on('sync:start', this.#onStart)
    scheduler.on('sync:success', this.#onSuccess)
    scheduler.on('sync:failure', this.#onFailure)
    scheduler.on('connection:disabled', this.#onDisabled)
  }

  #detach(): void {
    const scheduler = this.#scheduler
    scheduler.off('sync:start', this.#onStart)
    scheduler.off('sync:success', this.#onSuccess)
    scheduler.off('sync:failure', this.#onFailure)
    scheduler.off('connection:disabled', this.#onDisabled)
  }
}

function errorView(error: SyncError): { code: string; message: string } {
  return { code: error.code, message: error.message }
}

/** The process that ran the sync, when the scheduler reports one (a cluster); absent in one process. */
function workerOf(event: { worker?: string }): { worker?: string } {
  return event.worker === undefined ? {} : { worker: event.worker }
}
