import type { Clock, TimerHandle } from './clock.js'

/** A store call that did not answer within `storeTimeoutMs`. */
export class StoreTimeoutError extends Error {
  override readonly name = 'StoreTimeoutError'
}

interface Pending {
  readonly deadline: number
  readonly what: string
  settled: boolean
  readonly reject: (error: Error) => void
}

/**
 * Runs store calls with a deadline, so a store that never answers holds no sweep, slot or `stop()`: past it the
 * call fails like any store failure, and its late answer is dropped. Every call has the same timeout, so deadlines
 * come in order and one timer watches them all, instead of a timer per call on the hot path.
 */
export class StoreCalls {
  readonly #clock: Clock
  readonly #timeoutMs: number
  #pending: Pending[] = []
  #head = 0
  /** Calls not settled yet: at 0 the timer goes, so an idle scheduler keeps no timer (nor the process) alive. */
  #open = 0
  #timer: TimerHandle | undefined
  /** The last call that failed, while no call has succeeded since: what `health()` reports. */
  #lastError: { message: string; at: number } | null = null

  constructor(clock: Clock, timeoutMs: number) {
    this.#clock = clock
    this.#timeoutMs = timeoutMs
  }

  /** The last failed call, scrubbed of connection strings, or null once a later call succeeded. */
  get lastError(): { message: string; at: number } | null {
    return this.#lastError
  }

  /** Calls `call` (a throw becomes a rejection) and settles with it, or rejects at the deadline. */
  run<T>(what: string, call: () => Promise<T> | T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const pending: Pending = { deadline: this.#clock.now() + this.#timeoutMs, what, settled: false, reject }
      this.#pending.push(pending)
      this.#open++
      if (this.#timer === undefined) this.#arm()
      let answer: Promise<T> | T
      try {
        answer = call()
      } catch (error) {
        answer = Promise.reject(error)
      }
      Promise.resolve(answer).then(
        (value) => {
          this.#lastError = null
          if (this.#settle(pending)) resolve(value)
        },
        (error: unknown) => {
          this.#failed(what, error)
          if (this.#settle(pending)) reject(error)
        },
      )
    })
  }

  #failed(what: string, error: unknown): void {
    const message = error instanceof Error ? error.message : String(error)
    this.#lastError = { message: `${what}: ${scrubConnectionStrings(message)}`.slice(0, 500), at: this.#clock.now() }
  }

  #settle(pending: Pending): boolean {
    if (pending.settled) return false
    pending.settled = true
    if (--this.#open === 0) {
      if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer)
      this.#timer = undefined
      this.#pending.length = 0
      this.#head = 0
    }
    return true
  }

  #arm(): void {
    while (this.#head < this.#pending.length && (this.#pending[this.#head] as Pending).settled) this.#head++
    if (this.#head > 1_024 && this.#head * 2 > this.#pending.length) {
      this.#pending = this.#pending.slice(this.#head)
      this.#head = 0
    }
    const next = this.#pending[this.#head]
    if (!next) {
      this.#pending.length = 0
      this.#head = 0
      return
    }
    this.#timer = this.#clock.setTimeout(() => this.#expire(), Math.max(0, next.deadline - this.#clock.now()))
  }

  #expire(): void {
    this.#timer = undefined
    const now = this.#clock.now()
    while (this.#head < this.#pending.length) {
      const pending = this.#pending[this.#head] as Pending
      if (!pending.settled && pending.deadline > now) break
      this.#head++
      if (this.#settle(pending)) {
        const error = new StoreTimeoutError(`${pending.what} did not answer within ${this.#timeoutMs} ms`)
        this.#failed(pending.what, error)
        pending.reject(error)
      }
    }
    if (this.#open > 0 && this.#timer === undefined) this.#arm()
  }
}

/** Takes URLs with credentials (`postgres://user:secret@host/db`) and `password=` pairs out of a message. */
export function scrubConnectionStrings(message: string): string {
  return message
    .replace(/[a-z][a-z0-9+.-]*:\/\/[^\s'"]+/gi, '[connection string]')
    .replace(/(password|passwd|pwd)\s*=\s*[^\s;'"]+/gi, '$1=[redacted]')
}
