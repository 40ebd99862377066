import type { DueCursor, SyncStore } from '../store/syncStore.js'
import type { Connection } from '../types.js'
import type { Clock } from './clock.js'
import type { EventBus } from './eventBus.js'
import type { ExchangeSweepReport } from './events.js'
import type { Lifecycle } from './lifecycle.js'
import type { StoreCalls } from './storeCalls.js'

/** One pass over due connections, read from the store page by page. */
export interface Sweep {
  /** The exchange swept, or undefined for the pass that looks for connections no adapter syncs. */
  readonly exchange: string | undefined
  /** The due-time snapshot: every page of the sweep lists connections due at this instant. */
  readonly now: number
  cursor: DueCursor | undefined
  exhausted: boolean
  fetching: boolean
  finished: boolean
  readonly report: ExchangeSweepReport
  /** Jobs of this sweep not yet settled. */
  pending: number
  readonly done: Promise<ExchangeSweepReport>
  finish: (report: ExchangeSweepReport) => void
}

export interface SweepReaderOptions {
  store: SyncStore
  storeCalls: StoreCalls
  clock: Clock
  events: EventBus
  lifecycle: Lifecycle
  pageSize: number
  /** Hands a due connection on; true when it became a new job of the sweep (counted in `pending`). */
  offer: (sweep: Sweep, connection: Connection) => boolean
  /** How many of the sweep's jobs wait for a slot: the next page is read when they run low. */
  backlog: (sweep: Sweep) => number
  /** A page was handed on. */
  onPage: () => void
  /** The sweep is over (every page read, every job settled). */
  onFinish: (sweep: Sweep) => void
}

/**
 * Pages due connections out of the store (keyset paging, one exchange at a time) and hands them on. It owns its
 * progress: a page that yields nothing new (all held, all already syncing) reads the next page itself, so such a
 * page never ends an exchange's sweeps; a page that lands after `stop()` began is dropped.
 */
export class SweepReader {
  readonly #options: SweepReaderOptions

  constructor(options: SweepReaderOptions) {
    this.#options = options
  }

  begin(exchange: string | undefined, now: number): Sweep {
    let finish!: (report: ExchangeSweepReport) => void
    const done = new Promise<ExchangeSweepReport>((resolve) => {
      finish = resolve
    })
    return {
      exchange,
      now,
      cursor: undefined,
      exhausted: false,
      fetching: false,
      finished: false,
      report: { exchange: exchange ?? '', attempted: 0, succeeded: 0, failed: 0, startedAt: now, finishedAt: now },
      pending: 0,
      done,
      finish,
    }
  }

  /** Reads the next page when the sweep's backlog runs low. */
  refill(sweep: Sweep): void {
    if (sweep.exhausted || sweep.fetching || this.#options.backlog(sweep) >= this.#options.pageSize / 2) return
    sweep.fetching = true
    void this.#read(sweep)
  }

  /** One of the sweep's jobs ended. */
  settled(sweep: Sweep, ok: boolean | undefined): void {
    sweep.pending--
    if (ok === true) sweep.report.succeeded++
    else if (ok === false) sweep.report.failed++
    this.refill(sweep)
    this.maybeFinish(sweep)
  }

  /** Reads no more pages; the sweep ends once its jobs have. */
  close(sweep: Sweep): void {
    sweep.exhausted = true
    this.maybeFinish(sweep)
  }

  maybeFinish(sweep: Sweep): void {
    if (sweep.finished || sweep.pending > 0 || !sweep.exhausted || sweep.fetching) return
    sweep.finished = true
    sweep.report.finishedAt = this.#options.clock.now()
    sweep.finish(sweep.report)
    this.#options.onFinish(sweep)
  }

  async #read(sweep: Sweep): Promise<void> {
    const { events, lifecycle, offer, pageSize, store, storeCalls } = this.#options
    const generation = lifecycle.generation
    const what = sweep.exchange === undefined ? 'every exchange' : `exchange "${sweep.exchange}"`
    try {
      for (;;) {
        const after = sweep.cursor
        const options = sweep.exchange === undefined ? { after } : { exchange: sweep.exchange, after }
        const page = await storeCalls.run('store.listDue', () => store.listDue(sweep.now, pageSize, options))
        if (!lifecycle.mayStart(generation)) {
          sweep.exhausted = true
          break
        }
        if (!Array.isArray(page)) throw new TypeError(`store.listDue answered ${typeof page}, not an array`)
        if (page.length < pageSize) sweep.exhausted = true
        const last = page.at(-1)
        if (last) {
          const cursor = { lastSyncAt: last.lastSyncAt, id: last.id }
          // A store that ignores `after` would hand back the same page for ever.
          if (after && cursor.id === after.id && cursor.lastSyncAt === after.lastSyncAt) sweep.exhausted = true
          sweep.cursor = cursor
        }
        let added = 0
        for (const connection of page) if (offer(sweep, connection)) added++
        // A full page that gave no new job (all held or already syncing) must not end the sweep.
        if (added > 0 || sweep.exhausted) break
      }
    } catch (error) {
      sweep.exhausted = true
      events.error(`store.listDue failed for ${what}`, error)
    } finally {
      sweep.fetching = false
    }
    this.#options.onPage()
    this.maybeFinish(sweep)
  }
}
