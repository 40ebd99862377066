import { SyncError } from '../errors/syncError.js'
import type { LimitDecision, LimitPermit, SyncLimiter } from '../limits/syncLimiter.js'
import type { Connection } from '../types.js'
import type { Clock, TimerHandle } from './clock.js'
import type { EventBus } from './eventBus.js'
import { type LaneSnapshot, pickLane, type WaitHorizons } from './fairShare.js'

/** One sync waiting for a slot and its budget. */
export interface DispatchJob {
  readonly connection: Connection
  /** The account the exchange counts this connection's calls under, when known. */
  readonly account: string | undefined
  /** A manual request: refused with RATE_LIMITED at once when a pause or budget would keep it waiting past this. */
  readonly waitUntil: number | undefined
  /** An account-scope limit said no until then. */
  notBefore: number
  /** A grant that came back (asynchronously) while no slot was free. */
  permit: LimitPermit | undefined
  /** The limiter is answering for it. */
  asking: boolean
  /** Taken out of the queue (dropped, refused or started). */
  done: boolean
  /** Runs the granted sync; resolves to its error, if it failed. */
  start(permit: LimitPermit): Promise<SyncError | undefined>
  /** Called instead of `start` when the job leaves the queue without running. */
  refuse(error: SyncError): void
}

/** One exchange's queue: its own cap and its own pause, so it never holds up another exchange. */
export interface Lane {
  readonly exchange: string
  readonly concurrency: number
  inFlight: number
  /** Manual syncs and connections of active users: taken before `queue`. */
  readonly urgent: DispatchJob[]
  readonly queue: DispatchJob[]
  /** An exchange-scope limit said no until then. */
  blockedUntil: number
  /** Syncs in a row that ended in TIMEOUT: an exchange that hangs keeps one slot while others have work. */
  timeoutsInARow: number
  /** A limiter answer for this lane is pending: one at a time per lane. */
  asking: boolean
}

export interface DispatcherOptions {
  clock: Clock
  limiter: SyncLimiter
  events: EventBus
  /** Most syncs in flight at once, across every lane. */
  concurrency: number
  /** Per exchange: its own cap. */
  lanes: ReadonlyArray<{ exchange: string; concurrency: number }>
  /** How long a waiting lane keeps its share (see `pickLane`). @default { anyMs: 0, hangingMs: 0 } */
  waitHorizons?: WaitHorizons
  /** True while the lane's next jobs are being read from the store (it is owed its share meanwhile). */
  isLoading?: (lane: Lane) => boolean
  /** Called when an exchange-scope limit blocks a lane until `until`. */
  onBlocked?: (lane: Lane, until: number) => void
  /**
   * Longest wait for a limiter that answers with a promise. Past it the lane stops waiting: it asks again after
   * `LIMITER_RETRY_MS`, and a grant that arrives late is given back unused. @default 10_000
   */
  limiterTimeoutMs?: number
}

/** After a limiter failed or did not answer in time: how long the lane waits before it asks again. */
export const LIMITER_RETRY_MS = 1_000

/** Timeouts in a row after which an exchange counts as hanging and is owed one slot while others have work. */
const HANGING_AFTER_TIMEOUTS = 2

/** How many queued jobs of one lane the dispatcher looks at to find one whose account is not paused. */
const SCAN_DEPTH = 32

/**
 * Holds one lane per exchange (urgent first, then the sweep queue) and starts what the global cap, the lane's cap
 * and the limiter allow, lanes taking turns by the fair-share rule. A lane that waits (a pause, a budget, an
 * account's Retry-After, a limiter still answering) holds no slot another lane could use.
 */
export class Dispatcher {
  readonly #options: DispatcherOptions
  readonly #lanes = new Map<string, Lane>()
  readonly #order: Lane[]
  readonly #snapshot: Mutable<LaneSnapshot>[]
  #running = 0
  #turn = 0
  #pumping = false
  #pumpAgain = false
  #wakeTimer: TimerHandle | undefined
  #wakeAt = Number.POSITIVE_INFINITY
  /** Ends the wait for each limiter answer still pending (see `#ask`). */
  readonly #askDeadlines = new Set<() => void>()

  constructor(options: DispatcherOptions) {
    this.#options = options
    for (const { exchange, concurrency } of options.lanes) {
      this.#lanes.set(exchange, {
        exchange,
        concurrency,
        inFlight: 0,
        urgent: [],
        queue: [],
        blockedUntil: 0,
        timeoutsInARow: 0,
        asking: false,
      })
    }
    this.#order = [...this.#lanes.values()]
    this.#snapshot = this.#order.map(() => ({
      inFlight: 0,
      ready: false,
      loading: false,
      waitMs: Number.POSITIVE_INFINITY,
      hanging: false,
    }))
  }

  get running(): number {
    return this.#running
  }

  lane(exchange: string): Lane | undefined {
    return this.#lanes.get(exchange)
  }

  get lanes(): readonly Lane[] {
    return this.#order
  }

  enqueue(lane: Lane, job: DispatchJob, urgent: boolean): void {
    ;(urgent ? lane.urgent : lane.queue).push(job)
  }

  /** Moves a queued job to the urgent list. */
  promote(lane: Lane, job: DispatchJob): void {
    const index = lane.queue.indexOf(job)
    if (index === -1) return
    lane.queue.splice(index, 1)
    lane.urgent.push(job)
  }

  /** Takes every queued job out with `refuse(error)`; `which` picks them (all by default). */
  drop(
    error: SyncError,
    which: (job: DispatchJob) => boolean = () => true,
    lanes: readonly Lane[] = this.#order,
  ): void {
    for (const lane of lanes) {
      for (const list of [lane.urgent, lane.queue]) {
        const kept = list.filter((job) => !which(job))
        const dropped = list.filter(which)
        list.length = 0
        list.push(...kept)
        for (const job of dropped) this.#refuse(job, error)
      }
    }
  }

  /** Starts whatever the caps and the limiter allow. Re-entrant calls coalesce. */
  pump(): void {
    if (this.#pumping) {
      this.#pumpAgain = true
      return
    }
    this.#pumping = true
    try {
      do {
        this.#pumpAgain = false
        this.#startWhatCan()
      } while (this.#pumpAgain)
    } finally {
      this.#pumping = false
    }
  }

  /** Stops the wake-up timer and the limiter deadlines (the scheduler stopped). */
  close(): void {
    this.#setWake(Number.POSITIVE_INFINITY, 0)
    for (const cancel of this.#askDeadlines) cancel()
  }

  #startWhatCan(): void {
    const { concurrency, clock } = this.#options
    const now = clock.now()
    let wakeAt = Number.POSITIVE_INFINITY
    const snapshot = this.#snapshot
    for (let index = 0; index < this.#order.length; index++) {
      const lane = this.#order[index] as Lane
      const entry = snapshot[index] as Mutable<LaneSnapshot>
      entry.inFlight = lane.inFlight
      entry.hanging = lane.timeoutsInARow >= HANGING_AFTER_TIMEOUTS
      entry.ready = this.#ready(lane, now)
      entry.loading =
        !entry.ready && lane.inFlight < lane.concurrency && lane.blockedUntil <= now && this.#loading(lane)
      entry.waitMs = entry.ready || entry.loading ? Number.POSITIVE_INFINITY : waitOf(lane, now)
      if (lane.blockedUntil > now && hasWork(lane)) wakeAt = Math.min(wakeAt, lane.blockedUntil)
    }
    while (this.#running < concurrency) {
      const index = pickLane(snapshot, concurrency, this.#running, this.#turn, this.#options.waitHorizons)
      if (index === -1) break
      const lane = this.#order[index] as Lane
      const entry = snapshot[index] as Mutable<LaneSnapshot>
      const result = this.#startNext(lane, now)
      if (result === true) {
        this.#turn = (index + 1) % this.#order.length
        entry.inFlight = lane.inFlight
        entry.ready = this.#ready(lane, now)
      } else {
        entry.ready = false
        entry.waitMs = waitOf(lane, now)
        wakeAt = Math.min(wakeAt, result)
      }
    }
    // A lane whose jobs all wait on their accounts' pauses wakes when the first one ends. (A ready lane needs no
    // timer: a sync that ends pumps again.)
    for (let index = 0; index < this.#order.length; index++) {
      const lane = this.#order[index] as Lane
      if (lane.blockedUntil > now || (snapshot[index] as LaneSnapshot).ready || !hasWork(lane)) continue
      wakeAt = Math.min(wakeAt, earliestNotBefore(lane, now))
    }
    this.#setWake(wakeAt, now)
  }

  #loading(lane: Lane): boolean {
    return this.#options.isLoading?.(lane) ?? false
  }

  /** May this lane start a job now? */
  #ready(lane: Lane, now: number): boolean {
    if (lane.inFlight >= lane.concurrency || lane.blockedUntil > now || lane.asking) return false
    // The usual case first: the head of the queue may start.
    const head = lane.urgent[0] ?? lane.queue[0]
    if (head === undefined) return false
    if (!head.asking && head.notBefore <= now) return true
    return scan(lane, (job) => !job.asking && job.notBefore <= now)
  }

  /** Starts one job of the lane: true when it did, else when asking again may help (or Infinity). */
  #startNext(lane: Lane, now: number): true | number {
    let wakeAt = Number.POSITIVE_INFINITY
    let scanned = 0
    for (const list of lane.urgent.length > 0 ? [lane.urgent, lane.queue] : [lane.queue]) {
      for (let index = 0; index < list.length && scanned < SCAN_DEPTH; index++, scanned++) {
        const job = list[index] as DispatchJob
        if (job.asking) continue
        if (job.notBefore > now) {
          wakeAt = Math.min(wakeAt, job.notBefore)
          continue
        }
        if (job.permit) {
          this.#take(list, index)
          this.#run(lane, job, job.permit)
          return true
        }
        let decision: LimitDecision | Promise<LimitDecision>
        try {
          decision = this.#options.limiter.acquire({
            exchange: lane.exchange,
            connectionId: job.connection.id,
            account: job.account,
            now,
          })
        } catch (error) {
          this.#take(list, index)
          this.#failLimiter(job, lane, error)
          return true
        }
        if (isPromise(decision)) {
          this.#ask(lane, job, decision)
          return Number.POSITIVE_INFINITY
        }
        if (decision.granted) {
          this.#take(list, index)
          this.#run(lane, job, decision.permit)
          return true
        }
        const refused = this.#refused(lane, job, decision, now)
        if (refused === 'lane') return decision.retryAt
        if (refused === 'job') {
          index--
          continue
        }
        wakeAt = Math.min(wakeAt, decision.retryAt)
      }
    }
    return wakeAt
  }

  /**
   * Applies a refusal: an exchange-scope one blocks the lane (and turns away manual jobs that cannot wait that
   * long), an account-scope one holds this job. Returns what it held: the lane, the job (taken out), or the job
   * (kept, with `notBefore`).
   */
  #refused(
    lane: Lane,
    job: DispatchJob,
    decision: Extract<LimitDecision, { granted: false }>,
    now: number,
  ): 'lane' | 'job' | 'held' {
    const { events } = this.#options
    if (decision.scope === 'exchange') {
      if (decision.retryAt > lane.blockedUntil) {
        lane.blockedUntil = decision.retryAt
        if (decision.reason === 'budget') {
          events.emit('ratelimit', {
            exchange: lane.exchange,
            scope: 'exchange',
            key: lane.exchange,
            waitMs: decision.retryAt - now,
            reason: 'budget',
          })
        }
        this.#options.onBlocked?.(lane, decision.retryAt)
      }
      this.#refuseImpatient(lane, now)
      return 'lane'
    }
    if (decision.retryAt > job.notBefore) {
      job.notBefore = decision.retryAt
      if (decision.reason === 'budget') {
        events.emit('ratelimit', {
          exchange: lane.exchange,
          scope: 'account',
          key: job.account ?? job.connection.id,
          waitMs: decision.retryAt - now,
          reason: 'budget',
        })
      }
    }
    if (job.waitUntil !== undefined && job.notBefore > job.waitUntil) {
      this.#remove(lane, job)
      this.#refuse(job, rateLimited(lane.exchange, 'account', job.notBefore - now))
      return 'job'
    }
    return 'held'
  }

  /** Jobs with a deadline (manual ones, another engine's) that would wait past it for the lane's pause get RATE_LIMITED now. */
  #refuseImpatient(lane: Lane, now: number): void {
    const until = lane.blockedUntil
    const impatient = (job: DispatchJob) => job.waitUntil !== undefined && until > job.waitUntil
    if (!lane.urgent.some(impatient) && !lane.queue.some(impatient)) return
    this.drop(rateLimited(lane.exchange, 'exchange', until - now), impatient, [lane])
  }

  /**
   * A limiter answering with a promise: the lane asks nothing more until it answers, and holds no slot. An answer
   * that never comes stalls nothing: past `limiterTimeoutMs` the lane asks again a little later, and a grant that
   * arrives after that is given back unused.
   */
  #ask(lane: Lane, job: DispatchJob, decision: Promise<LimitDecision>): void {
    const { clock, limiter, events } = this.#options
    const timeoutMs = this.#options.limiterTimeoutMs ?? 10_000
    job.asking = true
    lane.asking = true
    let answered = false
    const answer = (): boolean => {
      if (answered) return false
      answered = true
      clock.clearTimeout(timer)
      this.#askDeadlines.delete(answer)
      job.asking = false
      lane.asking = false
      return true
    }
    this.#askDeadlines.add(answer)
    const timer = clock.setTimeout(() => {
      if (!answer()) return
      events.error(
        `The limiter did not answer for exchange "${lane.exchange}" within ${timeoutMs} ms`,
        new Error('limiter timeout'),
      )
      if (!job.done) this.#holdLane(lane, clock.now() + LIMITER_RETRY_MS)
      this.pump()
    }, timeoutMs)
    decision.then(
      (decided) => {
        const now = clock.now()
        if (!answer()) {
          // Too late: this lane already moved on, so the grant is given back as a sync that did nothing.
          if (decided.granted) void settleQuietly(limiter, decided.permit, now)
          return
        }
        if (job.done) {
          // Dropped while the limiter answered (stop): give the grant back as a sync that did nothing.
          if (decided.granted) void settleQuietly(limiter, decided.permit, now)
        } else if (decided.granted) job.permit = decided.permit
        else this.#refused(lane, job, decided, now)
        this.pump()
      },
      (error: unknown) => {
        if (!answer()) return
        if (!job.done) {
          this.#remove(lane, job)
          this.#failLimiter(job, lane, error)
        }
        this.pump()
      },
    )
  }

  /** Holds the lane until `until` without refusing anyone: a limiter problem is no exchange's pause. */
  #holdLane(lane: Lane, until: number): void {
    if (until > lane.blockedUntil) lane.blockedUntil = until
  }

  #failLimiter(job: DispatchJob, lane: Lane, error: unknown): void {
    this.#options.events.error(`The limiter failed for exchange "${lane.exchange}"`, error)
    this.#refuse(job, new SyncError('UNKNOWN', 'The rate limiter failed; the sync did not start.'))
  }

  #run(lane: Lane, job: DispatchJob, permit: LimitPermit): void {
    job.done = true
    job.permit = undefined
    lane.inFlight++
    this.#running++
    let settled: Promise<SyncError | undefined>
    try {
      settled = job.start(permit)
    } catch (error) {
      settled = Promise.reject(error)
    }
    const done = (error: SyncError | undefined) => {
      lane.inFlight--
      this.#running--
      lane.timeoutsInARow = error?.code === 'TIMEOUT' ? lane.timeoutsInARow + 1 : 0
      this.pump()
    }
    settled.then(done, (error: unknown) => {
      this.#options.events.error(`A sync of exchange "${lane.exchange}" failed unexpectedly`, error)
      done(new SyncError('UNKNOWN', 'The sync failed unexpectedly.'))
    })
  }

  #refuse(job: DispatchJob, error: SyncError): void {
    if (job.done) return
    job.done = true
    job.refuse(error)
  }

  #take(list: DispatchJob[], index: number): void {
    if (index === 0) list.shift()
    else list.splice(index, 1)
  }

  #remove(lane: Lane, job: DispatchJob): void {
    for (const list of [lane.urgent, lane.queue]) {
      const index = list.indexOf(job)
      if (index !== -1) list.splice(index, 1)
    }
  }

  #setWake(at: number, now: number): void {
    if (at === this.#wakeAt && this.#wakeTimer !== undefined) return
    const { clock } = this.#options
    if (this.#wakeTimer !== undefined) clock.clearTimeout(this.#wakeTimer)
    this.#wakeTimer = undefined
    this.#wakeAt = at
    if (at === Number.POSITIVE_INFINITY) return
    this.#wakeTimer = clock.setTimeout(
      () => {
        this.#wakeTimer = undefined
        this.#wakeAt = Number.POSITIVE_INFINITY
        this.pump()
      },
      Math.max(0, at - now),
    )
  }
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

function hasWork(lane: Lane): boolean {
  return lane.urgent.length > 0 || lane.queue.length > 0
}

/** How long until a lane that waits for a pause or a budget may start; Infinity when it waits for nothing. */
function waitOf(lane: Lane, now: number): number {
  if (!hasWork(lane) || lane.asking || lane.inFlight >= lane.concurrency) return Number.POSITIVE_INFINITY
  if (lane.blockedUntil > now) return lane.blockedUntil - now
  const at = earliestNotBefore(lane, now)
  return at === Number.POSITIVE_INFINITY ? at : at - now
}

function earliestNotBefore(lane: Lane, now: number): number {
  let at = Number.POSITIVE_INFINITY
  scan(lane, (job) => {
    if (!job.asking && !job.permit && job.notBefore > now) at = Math.min(at, job.notBefore)
    return false
  })
  return at
}

/** True when `test` holds for one of the first SCAN_DEPTH jobs of the lane, urgent first. */
function scan(lane: Lane, test: (job: DispatchJob) => boolean): boolean {
  let scanned = 0
  for (let index = 0; index < lane.urgent.length && scanned < SCAN_DEPTH; index++, scanned++) {
    if (test(lane.urgent[index] as DispatchJob)) return true
  }
  for (let index = 0; index < lane.queue.length && scanned < SCAN_DEPTH; index++, scanned++) {
    if (test(lane.queue[index] as DispatchJob)) return true
  }
  return false
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function'
}

function rateLimited(exchange: string, scope: 'exchange' | 'account', waitMs: number): SyncError {
  const what = scope === 'exchange' ? `${exchange} is paused` : `This ${exchange} account is paused`
  return new SyncError('RATE_LIMITED', `${what} by its rate limit; try again in ${Math.ceil(waitMs / 1000)} s.`, {
    retryAfterMs: waitMs,
    scope,
  })
}

/** Gives a grant back as a sync that did nothing; a limiter that fails at it has nothing left to break here. */
async function settleQuietly(limiter: SyncLimiter, permit: LimitPermit, now: number): Promise<void> {
  try {
    await limiter.settle(permit, { now, result: 'failed' })
  } catch {
    // Nothing to undo: the grant was never used.
  }
}

/** A new job for `Dispatcher.enqueue`: `waitUntil` is the deadline past which a pause or budget refuses it. */
export function dispatchJob(
  connection: Connection,
  account: string | undefined,
  waitUntil: number | undefined,
  handlers: Pick<DispatchJob, 'start' | 'refuse'>,
): DispatchJob {
  return {
    connection,
    account,
    waitUntil,
    notBefore: 0,
    permit: undefined,
    asking: false,
    done: false,
    start: handlers.start,
    refuse: handlers.refuse,
  }
}
