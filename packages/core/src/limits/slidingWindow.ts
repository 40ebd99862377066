/**
 * The weight spent in the last `windowMs`, as a log of grants. Exact for any window, not only aligned ones: a
 * budget kept here is never exceeded in any `windowMs`, so it also holds for an exchange's fixed windows.
 */
export class SlidingWindow {
  readonly windowMs: number
  #times: number[] = []
  #weights: number[] = []
  #head = 0
  #used = 0

  constructor(windowMs: number) {
    this.windowMs = windowMs
  }

  /** Weight spent in `(now - windowMs, now]`. */
  used(now: number): number {
    this.#expire(now)
    return this.#used
  }

  add(now: number, weight: number): undefined {
    this.#expire(now)
    this.#times.push(now)
    this.#weights.push(weight)
    this.#used += weight
  }

  /** The first instant at or after `now` when `cost` more fits under `limit` (Infinity when it never can). */
  fitsAt(now: number, cost: number, limit: number): number {
    if (cost > limit) return Number.POSITIVE_INFINITY
    this.#expire(now)
    let excess = this.#used + cost - limit
    if (excess <= 0) return now
    for (let index = this.#head; index < this.#times.length; index++) {
      excess -= this.#weights[index] as number
      if (excess <= 0) return (this.#times[index] as number) + this.windowMs
    }
    return Number.POSITIVE_INFINITY
  }

  /** Raises the count to what the exchange says it is, when the exchange counted more than we did. */
  alignTo(now: number, reported: number): void {
    const missing = reported - this.used(now)
    if (missing > 0) this.add(now, missing)
  }

  /** Nothing in the window: safe to forget. */
  isEmpty(now: number): boolean {
    return this.used(now) === 0
  }

  #expire(now: number): void {
    const cutoff = now - this.windowMs
    while (this.#head < this.#times.length && (this.#times[this.#head] as number) <= cutoff) {
      this.#used -= this.#weights[this.#head] as number
      this.#head++
    }
    if (this.#head > 64 && this.#head * 2 > this.#times.length) {
      this.#times = this.#times.slice(this.#head)
      this.#weights = this.#weights.slice(this.#head)
      this.#head = 0
    }
    if (this.#head === this.#times.length) this.#used = 0
  }
}
