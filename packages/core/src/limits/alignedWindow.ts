/**
 * The weight spent in the current fixed window of `windowMs`, aligned to the clock (`floor(now / windowMs)`), as
 * Binance counts `X-MBX-USED-WEIGHT-1M`. It also learns weight spent outside this process: each response's
 * `usedWeight` is the exchange's count for the window, so what exceeds our own grants up to that request was
 * spent by someone else on the same budget (a trading bot on the same IP). That outside weight is counted, and the
 * share it is expected to take of the rest of the window is kept free, so neither side meets a 429.
 */
/** Where a grant stood in its window, to read the exchange's count when the call answers. */
export interface AlignedGrant {
  readonly windowStart: number
  /** Our own weight granted in the window before this grant. */
  readonly ownBefore: number
  readonly at: number
}

/** How far ahead of an even spread over the window our own grants may run once outside weight is known. */
const PACE_AHEAD = 0.25

export class AlignedWindow {
  readonly windowMs: number
  #start = Number.NEGATIVE_INFINITY
  /** Our own grants in the current window. */
  #own = 0
  /** Outside weight seen so far in the current window. */
  #outside = 0
  /** When the outside weight was last seen, for its rate. */
  #outsideSeenAt = 0
  /** Outside weight of the last finished window: what the next one is expected to take. */
  #expectedOutside = 0

  constructor(windowMs: number) {
    this.windowMs = windowMs
  }

  /** Weight counted in the current window: our grants and the outside weight seen. */
  used(now: number): number {
    this.#roll(now)
    return this.#own + this.#outside
  }

  /** Counts a grant; returns what the grant needs to read the exchange's count later (`settle`). */
  add(now: number, weight: number): AlignedGrant {
    this.#roll(now)
    const ownBefore = this.#own
    this.#own += weight
    return { windowStart: this.#start, ownBefore, at: now }
  }

  /**
   * The first instant at or after `now` when `cost` more fits under `limit`, keeping the outside share free. Once
   * outside weight is known, our own grants are also paced over the window (a quarter ahead of an even spread):
   * answers then keep coming all through the window, so the outside pace is read from the whole of it, not from
   * its first moments.
   */
  fitsAt(now: number, cost: number, limit: number): number {
    if (cost > limit) return Number.POSITIVE_INFINITY
    this.#roll(now)
    const end = this.#start + this.windowMs
    const ownCap = limit - Math.max(this.#expectedTotal(), this.#outside)
    if (this.#own + cost > ownCap) return end
    if (this.#outside === 0 && this.#expectedOutside === 0) return now
    const wanted = (this.#own + cost) / ownCap - PACE_AHEAD
    const at = this.#start + Math.ceil(wanted * this.windowMs)
    return at <= now ? now : Math.min(at, end)
  }

  /**
   * The exchange reported `reported` for the window of a grant that was counted after `ownBefore` of our own:
   * everything above `ownBefore + weight` was spent outside.
   */
  observe(now: number, grant: AlignedGrant | undefined, weight: number, reported: number): void {
    this.#roll(now)
    // Answered in the next window: its count says nothing of this one.
    if (grant && grant.windowStart !== this.#start) return
    // Without the grant's place, all our grants of the window are taken as counted: it never counts outside high.
    const outside = grant ? reported - grant.ownBefore - weight : reported - this.#own
    if (outside > this.#outside) {
      this.#outside = outside
      // The count is the exchange's when it took the request, about when it was granted, not when it answered:
      // dating it at the answer would make the outside pace look slower than it is.
      this.#outsideSeenAt = grant ? grant.at : now
    }
  }

  isEmpty(now: number): boolean {
    return this.used(now) === 0 && this.#expectedOutside === 0
  }

  /** The outside weight this window is expected to take in all: last window's, or this one's pace if faster. */
  #expectedTotal(): number {
    return Math.max(this.#expectedOutside, this.#pace())
  }

  /** The outside weight this window is on course for, once a quarter of it has been seen; else what was seen. */
  #pace(): number {
    const elapsed = this.#outsideSeenAt - this.#start
    return elapsed >= this.windowMs / 4 ? (this.#outside / elapsed) * this.windowMs : this.#outside
  }

  #roll(now: number): void {
    const start = Math.floor(now / this.windowMs) * this.windowMs
    if (start === this.#start) return
    // A window skipped entirely saw no outside weight we know of; the last one seen still guides the next.
    if (start === this.#start + this.windowMs) this.#expectedOutside = this.#pace()
    this.#start = start
    this.#own = 0
    this.#outside = 0
    this.#outsideSeenAt = start
  }
}
