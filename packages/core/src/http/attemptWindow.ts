import type { Clock } from '../scheduler/clock.js'

/** Past this many remembered keys, keys with no attempt left in the window are swept so memory stays bounded. */
const SWEEP_ABOVE = 10_000

/**
 * At most `limit` attempts per key within any `windowMs` (a sliding window of attempt times). Refused attempts are
 * not recorded, so asking again while refused does not push the next allowed time further.
 */
export class AttemptWindow {
  readonly #limit: number
  readonly #windowMs: number
  readonly #clock: Clock
  /** Key -> times of its accepted attempts inside the window, oldest first. */
  readonly #attempts = new Map<string, number[]>()

  constructor(limit: number, windowMs: number, clock: Clock) {
    this.#limit = limit
    this.#windowMs = windowMs
    this.#clock = clock
  }

  /** 0 and the attempt is recorded when it may go; otherwise the milliseconds until the oldest one leaves the window. */
  take(key: string): number {
    const now = this.#clock.now()
    const times = (this.#attempts.get(key) ?? []).filter((at) => now - at < this.#windowMs)
    if (times.length >= this.#limit) {
      this.#attempts.set(key, times)
      return this.#windowMs - (now - (times[0] as number))
    }
    if (this.#attempts.size >= SWEEP_ABOVE) this.#sweep(now)
    times.push(now)
    this.#attempts.set(key, times)
    return 0
  }

  #sweep(now: number): void {
    for (const [key, times] of this.#attempts) {
      if (times.every((at) => now - at >= this.#windowMs)) this.#attempts.delete(key)
    }
  }
}
