import type { SyncSchedulerEvents } from './events.js'

type EventName = keyof SyncSchedulerEvents
type Listener = (payload: never) => unknown

/**
 * The scheduler's typed events. Each listener is called on its own, so one that throws (or rejects) becomes an
 * `error` event and neither breaks the scheduler nor the other listeners. Lists are replaced, never changed, when
 * a listener comes or goes, so `emit` walks the current list without copying it: events fire on every sync.
 */
export class EventBus {
  readonly #listeners = new Map<EventName, readonly Listener[]>()

  on<E extends EventName>(event: E, listener: SyncSchedulerEvents[E]): void {
    this.#listeners.set(event, [...(this.#listeners.get(event) ?? []), listener as Listener])
  }

  /** Listens for one event only; `off` with the same listener removes it before it fires. */
  once<E extends EventName>(event: E, listener: SyncSchedulerEvents[E]): void {
    const wrapper = Object.assign(
      (payload: never) => {
        this.#remove(event, wrapper)
        return (listener as Listener)(payload)
      },
      { listener },
    )
    this.on(event, wrapper as unknown as SyncSchedulerEvents[E])
  }

  /** Removes `listener` (also one added with `once`), or every listener of the event. */
  off<E extends EventName>(event: E, listener?: SyncSchedulerEvents[E]): void {
    if (listener === undefined) this.#listeners.delete(event)
    else this.#remove(event, listener as Listener)
  }

  /** True when someone listens: payloads that cost something (balances) are built only then. */
  listening(event: EventName): boolean {
    return (this.#listeners.get(event)?.length ?? 0) > 0
  }

  emit<E extends EventName>(event: E, payload: Parameters<SyncSchedulerEvents[E]>[0]): void {
    const listeners = this.#listeners.get(event)
    if (listeners === undefined) return
    for (const listener of listeners) {
      try {
        const returned = listener(payload as never)
        if (returned instanceof Promise) returned.catch((error: unknown) => this.#listenerFailed(event, error))
      } catch (error) {
        this.#listenerFailed(event, error)
      }
    }
  }

  /** Reports an unexpected failure (a store call, a listener) as an `error` event with `context` in front. */
  error(context: string, cause: unknown): void {
    const message = cause instanceof Error ? cause.message : String(cause)
    this.emit('error', new Error(`${context}: ${message}`, { cause }))
  }

  #remove(event: EventName, listener: Listener): void {
    const listeners = this.#listeners.get(event)
    if (!listeners) return
    const kept = listeners.filter(
      (registered) => registered !== listener && (registered as { listener?: unknown }).listener !== listener,
    )
    if (kept.length > 0) this.#listeners.set(event, kept)
    else this.#listeners.delete(event)
  }

  #listenerFailed(event: EventName, error: unknown): void {
    if (event !== 'error') this.error(`A "${event}" listener threw`, error)
  }
}
