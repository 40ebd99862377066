import type { Clock, TimerHandle } from '@syncfolio/core'

interface Timer {
  id: number
  at: number
  callback: () => void
}

/** Lets pending promise callbacks (store calls, adapter results) run before the next timer fires. */
export function flushPromises(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

/**
 * A Clock that moves only when told. `advance(ms)` fires due timers in time order and lets promises settle
 * between them, so a whole minute of scheduling runs in milliseconds and always the same way.
 */
export class FakeClock implements Clock {
  #now: number
  #nextId = 1
  #timers: Timer[] = []

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start
  }

  now(): number {
    return this.#now
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const timer = { id: this.#nextId++, at: this.#now + Math.max(0, ms), callback }
    this.#timers.push(timer)
    return timer.id
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers = this.#timers.filter((timer) => timer.id !== handle)
  }

  /** Timers not yet fired. */
  get pending(): number {
    return this.#timers.length
  }

  /** Moves time forward by `ms`, firing every timer due on the way, each at its own instant. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms
    await flushPromises()
    for (;;) {
      const next = this.#earliest()
      if (!next || next.at > target) break
      this.#timers = this.#timers.filter((timer) => timer !== next)
      this.#now = Math.max(this.#now, next.at)
      next.callback()
      await flushPromises()
    }
    this.#now = target
    await flushPromises()
  }

  /** Advances in steps until `condition()` holds, or throws after `maxMs` of fake time. */
  async advanceUntil(condition: () => boolean, { stepMs = 10, maxMs = 600_000 } = {}): Promise<void> {
    const deadline = this.#now + maxMs
    while (!condition()) {
      if (this.#now >= deadline) throw new Error(`advanceUntil: condition still false after ${maxMs} ms of fake time`)
      await this.advance(stepMs)
    }
  }

  #earliest(): Timer | undefined {
    let earliest: Timer | undefined
    for (const timer of this.#timers) {
      if (!earliest || timer.at < earliest.at || (timer.at === earliest.at && timer.id < earliest.id)) earliest = timer
    }
    return earliest
  }
}
