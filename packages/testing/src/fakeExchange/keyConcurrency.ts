/** How many requests of one API key the fake was answering at once, as `FakeExchange.keyConcurrency()` reports it. */
export interface FakeKeyConcurrency {
  /** Most requests of one key in flight at the same time, since the start or `resetKeyConcurrency()`. */
  peak: number
  /** The first key that reached `peak`; null before any request that carried a key. */
  peakKey: string | null
  /** Requests carrying a key in flight now, over every key. */
  inFlight: number
  /** Requests that arrived while another request with the same key was still in flight. */
  overlapping: number
}

/**
 * Counts requests in flight per API key. A request is in flight from its arrival until its answer is ready (or
 * the client left), latency and hang faults included, so two syncs of one account that overlap at the exchange
 * show here whatever their transport.
 */
export class KeyConcurrency {
  readonly #inFlight = new Map<string, number>()
  #total = 0
  #peak = 0
  #peakKey: string | null = null
  #overlapping = 0

  /** Counts a request in; returns the function that counts it out (call it once). */
  enter(apiKey: string): () => void {
    const now = (this.#inFlight.get(apiKey) ?? 0) + 1
    this.#inFlight.set(apiKey, now)
    this.#total++
    if (now > 1) this.#overlapping++
    if (now > this.#peak) {
      this.#peak = now
      this.#peakKey = apiKey
    }
    let left = false
    return () => {
      if (left) return
      left = true
      this.#total--
      const rest = (this.#inFlight.get(apiKey) ?? 1) - 1
      if (rest === 0) this.#inFlight.delete(apiKey)
      else this.#inFlight.set(apiKey, rest)
    }
  }

  snapshot(): FakeKeyConcurrency {
    return { peak: this.#peak, peakKey: this.#peakKey, inFlight: this.#total, overlapping: this.#overlapping }
  }

  /** Starts counting `peak` and `overlapping` afresh; requests in flight stay counted in `inFlight`. */
  reset(): void {
    this.#peak = Math.max(0, ...this.#inFlight.values())
    this.#peakKey =
      this.#peak === 0 ? null : ([...this.#inFlight].find(([, count]) => count === this.#peak)?.[0] ?? null)
    this.#overlapping = 0
  }
}
