import type { CcxtInstance } from './ccxtInstance.js'
import type { CallTrace } from './exchangeDialect.js'

/** One ccxt instance of the pool and the state of the call it runs. */
export interface PooledInstance {
  readonly instance: CcxtInstance
  /** The AbortSignal of the call in flight; the instance's fetch honours it. */
  signal: AbortSignal | undefined
  /** What the instance's fetch saw of the last response. */
  readonly trace: CallTrace
  /** The markets template whose markets the instance shares, if any. */
  marketsFrom: CcxtInstance | undefined
  /** The instance's `options` as built, restored before each call of exchanges that cache per-account state there. */
  baseline: Record<string, unknown> | undefined
  /** Detach the call's signal from the requests it was linked to; run when the call ends. */
  readonly disposers: Array<() => void>
}

export interface PoolStats {
  /** Instances built since the adapter was created. */
  created: number
  /** Instances waiting for a call. */
  idle: number
  /** Instances running a call now. */
  busy: number
}

/**
 * ccxt instances of one exchange, each running one call at a time: ccxt signs with whatever key the instance holds
 * when the request leaves, so two concurrent calls on one instance would sign with the same (last) key. The pool
 * grows to the number of concurrent calls and keeps up to `maxIdle` warm instances.
 */
export class InstancePool {
  readonly #build: () => PooledInstance
  readonly #maxIdle: number
  readonly #idle: PooledInstance[] = []
  #created = 0
  #busy = 0

  constructor(build: () => PooledInstance, maxIdle: number) {
    this.#build = build
    this.#maxIdle = maxIdle
  }

  acquire(): PooledInstance {
    const slot = this.#idle.pop() ?? this.#create()
    this.#busy++
    return slot
  }

  release(slot: PooledInstance): void {
    this.#busy--
    if (this.#idle.length < this.#maxIdle) this.#idle.push(slot)
  }

  stats(): PoolStats {
    return { created: this.#created, idle: this.#idle.length, busy: this.#busy }
  }

  #create(): PooledInstance {
    const slot = this.#build()
    this.#created++
    return slot
  }
}
