import type { Clock } from '../scheduler/clock.js'

/** Past this many remembered connections, expired entries are swept so memory stays bounded. */
const SWEEP_ABOVE = 10_000

/**
 * Spaces manual syncs of one connection by at least `intervalMs`, counted from the last accepted request: a first
 * request always passes, and a refused one does not push the next allowed time further.
 */
export class ManualSyncThrottle {
  readonly #intervalMs: number
  readonly #clock: Clock
  /** Connection id -> when its last manual sync was accepted. */
  readonly #accepted = new Map<string, number>()

  constructor(intervalMs: number, clock: Clock) {
    this.#intervalMs = intervalMs
    this.#clock = clock
  }

  /** 0 and the request is recorded when it may go; otherwise the milliseconds left to wait. */
  take(connectionId: string): number {
    const now = this.#clock.now()
    const last = this.#accepted.get(connectionId)
    if (last !== undefined && now - last < this.#intervalMs) return this.#intervalMs - (now - last)
    if (this.#accepted.size >= SWEEP_ABOVE) this.#sweep(now)
    this.#accepted.delete(connectionId)
    this.#accepted.set(connectionId, now)
    return 0
  }

  #sweep(now: number): void {
    for (const [id, at] of this.#accepted) if (now - at >= this.#intervalMs) this.#accepted.delete(id)
  }
}
