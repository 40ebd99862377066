/**
 * The one answer to "may this still start?". Every `stop()` begins a new generation: work that captured an older
 * generation before an `await` (a store page, a `syncNow` lookup) must not start anything when it resumes.
 */
export class Lifecycle {
  #state: 'idle' | 'started' | 'stopping' = 'idle'
  #generation = 0
  #aborts = 0

  get started(): boolean {
    return this.#state === 'started'
  }

  get stopping(): boolean {
    return this.#state === 'stopping'
  }

  /** The current generation, to check with `mayStart` after an await. */
  get generation(): number {
    return this.#generation
  }

  /** How many times a stop aborted syncs in flight, to check with `aborted` after an await. */
  get aborts(): number {
    return this.#aborts
  }

  /** True unless a stop began since `generation` was read, or one is under way. */
  mayStart(generation: number): boolean {
    return this.#state !== 'stopping' && generation === this.#generation
  }

  /** True when a stop aborted syncs since `aborts` was read. */
  aborted(aborts: number): boolean {
    return aborts !== this.#aborts
  }

  /** False when already started. */
  start(): boolean {
    if (this.#state === 'started') return false
    this.#state = 'started'
    return true
  }

  beginStop(): void {
    this.#state = 'stopping'
    this.#generation++
  }

  abortInFlight(): void {
    this.#aborts++
  }

  endStop(): void {
    this.#state = 'idle'
  }
}
