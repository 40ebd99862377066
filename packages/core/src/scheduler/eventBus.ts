import { EventEmitter } from 'eventemitter3'
import type { SyncSchedulerEvents } from './events.js'

type EventName = keyof SyncSchedulerEvents
type Payload<E extends EventName> = Parameters<SyncSchedulerEvents[E]>[0]

/**
 * The scheduler's typed events. Each listener is called on its own, so one that throws (or rejects) becomes an
 * `error` event and neither breaks the scheduler nor the other listeners.
 */
export class EventBus {
  readonly #emitter = new EventEmitter<SyncSchedulerEvents>()

  on<E extends EventName>(event: E, listener: SyncSchedulerEvents[E]): void {
    this.#emitter.on(event, listener as never)
  }

  once<E extends EventName>(event: E, listener: SyncSchedulerEvents[E]): void {
    // `emit` calls listeners one at a time, so a once-listener removes itself before it runs.
    const wrapper = Object.assign(
      (payload: never) => {
        this.#emitter.off(event, wrapper as never)
        return (listener as (payload: never) => unknown)(payload)
      },
      { listener },
    )
    this.#emitter.on(event, wrapper as never)
  }

  off<E extends EventName>(event: E, listener?: SyncSchedulerEvents[E]): void {
    if (listener === undefined) {
      this.#emitter.off(event)
      return
    }
    for (const registered of this.#emitter.listeners(event)) {
      if (registered === listener || (registered as { listener?: unknown }).listener === listener) {
        this.#emitter.off(event, registered as never)
      }
    }
  }

  /** True when someone listens: payloads that cost something (balances) are built only then. */
  listening(event: EventName): boolean {
    return this.#emitter.listenerCount(event) > 0
  }

  emit<E extends EventName>(event: E, payload: Payload<E>): void {
    // eventemitter3's listeners() copies the list, so a listener that removes itself does not skip the next one.
    const listeners = this.#emitter.listeners(event)
    if (listeners.length === 0) return
    for (const listener of listeners) {
      try {
        const returned = (listener as (value: unknown) => unknown)(payload)
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

  #listenerFailed(event: EventName, error: unknown): void {
    if (event !== 'error') this.error(`A "${event}" listener threw`, error)
  }
}
