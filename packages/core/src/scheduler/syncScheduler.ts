import { EventEmitter } from 'eventemitter3'
import { validateResult } from '../balances/validateResult.js'
import { scrubSyncError, secretValues } from '../errors/scrub.js'
import { SyncError, toSyncError } from '../errors/syncError.js'
import { BudgetLimiter } from '../limits/budgetLimiter.js'
import type { LimitPermit, LimitSettlement, SyncLimiter } from '../limits/syncLimiter.js'
import type { DueCursor } from '../store/syncStore.js'
import type { Connection, Credentials, ExchangeAdapter, FetchBalancesResult } from '../types.js'
import type { TimerHandle } from './clock.js'
import type {
  ExchangeSweepReport,
  SweepReport,
  SyncFailureEvent,
  SyncOutcome,
  SyncSchedulerEvents,
  VerifyCredentialsResult,
} from './events.js'
import { type ResolvedOptions, resolveOptions, type SyncSchedulerOptions } from './options.js'
import type { Scheduler } from './scheduler.js'
import { backoffDelay, nextPhaseAt } from './timing.js'

type Trigger = 'sweep' | 'manual'

interface Job {
  connection: Connection
  trigger: Trigger
  sweep: Sweep | null
  /** An account-scope limit said no until then. */
  notBefore: number
  resolve: (outcome: SyncOutcome) => void
  promise: Promise<SyncOutcome>
}

/** One exchange's queue: its own concurrency cap and its own pause, so it never holds up another exchange. */
interface Lane {
  readonly adapter: ExchangeAdapter
  readonly concurrency: number
  inFlight: number
  /** Manual syncs and connections of active users: taken before `queue`. */
  readonly urgent: Job[]
  readonly queue: Job[]
  /** An exchange-scope limit said no until then. */
  blockedUntil: number
  /** Syncs in a row that ended in TIMEOUT: an exchange that hangs keeps one slot while others have work. */
  timeoutsInARow: number
  /** The exchange's sweep in progress. Each exchange sweeps on its own, so one held up by its budget never delays another's next sweep. */
  sweep: Sweep | null
}

/** One pass over an exchange's due connections, read from the store page by page. */
interface Sweep {
  readonly lane: Lane
  /** The due-time snapshot: every page of the sweep lists connections due at this instant. */
  readonly now: number
  cursor: DueCursor | undefined
  exhausted: boolean
  fetching: boolean
  readonly report: ExchangeSweepReport
  /** Jobs of this sweep not yet settled. */
  pending: number
  readonly done: Promise<ExchangeSweepReport>
  finish: (report: ExchangeSweepReport) => void
}

export interface SchedulerStats {
  /** Syncs in flight across every exchange. */
  inFlight: number
  /** Syncs waiting for a slot or a budget. */
  queued: number
  sweeping: boolean
  exchanges: Record<
    string,
    {
      inFlight: number
      queued: number
      /** Weight left now in the tightest exchange-scope budget; null when the exchange has none. */
      budgetLeft: number | null
      /** Until when the whole exchange waits, for a Retry-After or its budget; null when it does not. */
      pausedUntil: number | null
      /** Accounts of the exchange waiting on their own. */
      pausedAccounts: number
    }
  >
}

/** How many of the most recently active users a new sweep puts first (each costs a `listByUser`). */
const ACTIVE_USERS_PER_SWEEP = 100

/** Timeouts in a row after which an exchange counts as hanging and is owed one slot while others have work. */
const HANGING_AFTER_TIMEOUTS = 2

/** How many queued jobs of one lane the dispatcher looks at to find one whose account is not paused. */
const SCAN_DEPTH = 32

/**
 * Keeps every active connection of a SyncStore synced about once per `intervalMs`: at most `concurrency` syncs in
 * flight, one per connection, each exchange in its own lane, hanging calls aborted, failures isolated and backed
 * off, revoked keys taken out of rotation, and `stop()` draining what runs.
 */
export class SyncScheduler implements Scheduler {
  readonly #options: ResolvedOptions
  readonly #limiter: SyncLimiter
  readonly #events = new EventEmitter<SyncSchedulerEvents>()
  readonly #lanes = new Map<string, Lane>()
  readonly #laneOrder: Lane[]
  /** Connection id -> the sync in flight, for joining. */
  readonly #running = new Map<string, Promise<SyncOutcome>>()
  /** Connection id -> queued job not yet started. */
  readonly #queued = new Map<string, Job>()
  /** Aborts for the adapter calls in flight, for `stop`. */
  readonly #adapterCalls = new Set<(reason: SyncError) => void>()
  /** How many times stop() began: a syncNow that awaited the store across one must not start. */
  #stops = 0
  /** How many times stop() aborted: a sync that was reading its credentials then must not call the exchange. */
  #aborts = 0
  /** User id -> until when their connections go first. */
  readonly #activeUsers = new Map<string, number>()
  /** Connection id -> until when not to retry, after the store failed to record its result. */
  readonly #held = new Map<string, number>()
  /** Exchanges on the fallback budget that have not been warned about yet. */
  readonly #unwarned: Set<string>
  /** The `runOnce` in progress, for joining. */
  #runOnce: Promise<SweepReport> | null = null
  #started = false
  #closing = false
  #tickTimer: TimerHandle | undefined
  #wakeTimer: TimerHandle | undefined
  #pumping = false
  #pumpAgain = false
  #nextLane = 0

  constructor(options: SyncSchedulerOptions) {
    this.#options = resolveOptions(options)
    this.#limiter = this.#options.limiter ?? new BudgetLimiter(this.#options.limits)
    for (const adapter of this.#options.exchanges.values()) {
      this.#lanes.set(adapter.id, {
        adapter,
        concurrency: this.#options.limits.get(adapter.id)?.concurrency ?? Number.POSITIVE_INFINITY,
        inFlight: 0,
        urgent: [],
        queue: [],
        blockedUntil: 0,
        timeoutsInARow: 0,
        sweep: null,
      })
    }
    this.#laneOrder = [...this.#lanes.values()]
    this.#unwarned = new Set(this.#options.fallbackExchanges)
  }

  /** Starts the background schedule. Idempotent. */
  start(): void {
    if (this.#started) return
    this.#started = true
    this.#scheduleTick(0)
  }

  /**
   * Stops scheduling and waits for the syncs in flight. Queued syncs are dropped (their `syncNow` callers get a
   * `CANCELLED` outcome); syncs still running after `timeoutMs` are aborted and end as `CANCELLED`, unrecorded.
   */
  async stop({ timeoutMs = 30_000 }: { timeoutMs?: number } = {}): Promise<void> {
    this.#started = false
    this.#clearTimer('tick')
    this.#closing = true
    this.#stops++
    try {
      for (const job of [...this.#queued.values()]) this.#drop(job)
      const sweeps = this.#sweeps()
      for (const sweep of sweeps) {
        sweep.exhausted = true
        this.#maybeFinish(sweep)
      }
      const settled = Promise.all([...this.#running.values(), ...sweeps.map((sweep) => sweep.done)])
      if (await this.#within(settled, timeoutMs)) return
      // Past the deadline: abort what still runs. A sync not yet at its adapter call sees #aborts and stops there.
      this.#aborts++
      const reason = new SyncError('CANCELLED', 'The scheduler stopped before this sync finished.')
      for (const abort of [...this.#adapterCalls]) abort(reason)
      // Aborted syncs end at once; only a store call that never answers can hold one, and stop() must still return.
      if (!(await this.#within(settled, Math.max(timeoutMs, 1_000)))) {
        this.#emitError('stop() returned with syncs still waiting for the store', new Error('store did not answer'))
      }
    } finally {
      this.#clearTimer('wake')
      this.#closing = false
    }
  }

  /** True when `promise` settles within `ms` (at once for `ms <= 0`), false otherwise. */
  #within(promise: Promise<unknown>, ms: number): Promise<boolean> {
    const { clock } = this.#options
    let timer: TimerHandle | undefined
    const deadline = new Promise<boolean>((resolve) => {
      if (ms <= 0) resolve(false)
      else timer = clock.setTimeout(() => resolve(false), ms)
    })
    return Promise.race([promise.then(() => true), deadline]).finally(() => {
      if (timer !== undefined) clock.clearTimeout(timer)
    })
  }

  /**
   * Syncs every due connection now: sweeps every exchange, joining an exchange's sweep already in progress, and
   * resolves when all are done with their counts summed. A `runOnce` during another joins it.
   */
  runOnce(): Promise<SweepReport> {
    if (this.#runOnce) return this.#runOnce
    const now = this.#options.clock.now()
    if (this.#closing)
      return Promise.resolve({ attempted: 0, succeeded: 0, failed: 0, startedAt: now, finishedAt: now })
    const running = this.#laneOrder.filter((lane) => lane.sweep)
    const sweeps = this.#laneOrder.map((lane) => lane.sweep ?? this.#startSweep(lane, now))
    this.#beginSweeps(
      sweeps.filter((sweep) => !running.includes(sweep.lane)),
      now,
    )
    const joined = Promise.all(sweeps.map((sweep) => sweep.done)).then((reports) => {
      this.#runOnce = null
      return {
        attempted: sum(reports, 'attempted'),
        succeeded: sum(reports, 'succeeded'),
        failed: sum(reports, 'failed'),
        startedAt: Math.min(now, ...reports.map((report) => report.startedAt)),
        finishedAt: Math.max(now, ...reports.map((report) => report.finishedAt)),
      }
    })
    this.#runOnce = joined
    return joined
  }

  /**
   * Syncs one connection as soon as a slot and its budget allow, ahead of the schedule. Joins a sync of the same
   * connection that is in flight or queued. Resolves to the outcome; rejects only for an unknown connection.
   */
  async syncNow(connectionId: string): Promise<SyncOutcome> {
    const running = this.#running.get(connectionId)
    if (running) return running
    const queued = this.#queued.get(connectionId)
    if (queued) {
      this.#promote(queued)
      return queued.promise
    }
    const stops = this.#stops
    const connection = await this.#options.store.get(connectionId)
    if (!connection) throw new SyncError('UNKNOWN', `Unknown connection "${connectionId}".`)
    // A stop() that began while the store answered wins: nothing starts after stop().
    if (this.#closing || stops !== this.#stops) return cancelled(connectionId, 'The scheduler stopped.')
    this.markActive(connection.userId)
    const joined = this.#running.get(connectionId) ?? this.#queued.get(connectionId)?.promise
    if (joined) return joined
    if (connection.status === 'error') {
      // The keys were rejected; only new credentials can help, and retrying bad keys risks an exchange ban.
      const code = connection.lastError?.code ?? 'AUTH_FAILED'
      return failed(
        connectionId,
        new SyncError(code as SyncError['code'], 'Reconnect needed: the last sync was rejected.'),
      )
    }
    const lane = this.#lanes.get(connection.exchange)
    if (!lane) {
      return failed(connectionId, new SyncError('UNKNOWN', `No adapter for exchange "${connection.exchange}".`))
    }
    const job = this.#enqueue(lane, connection, 'manual', null, true)
    this.#pump()
    return job.promise
  }

  /** The user is looking now: their due connections go first for `activeForMs`. */
  markActive(userId: string): void {
    const now = this.#options.clock.now()
    if (this.#activeUsers.size > 10_000) {
      for (const [user, until] of this.#activeUsers) if (until <= now) this.#activeUsers.delete(user)
    }
    // Re-inserted so the map stays in order of the latest mark: sweeps take the most recent users first.
    this.#activeUsers.delete(userId)
    this.#activeUsers.set(userId, now + this.#options.activeForMs)
    const sweeps = this.#sweeps()
    if (sweeps.length > 0) void this.#enqueueActiveUsers([userId], sweeps)
  }

  /** The ids of the exchanges this scheduler syncs (one per adapter). */
  get exchanges(): string[] {
    return [...this.#lanes.keys()]
  }

  /**
   * Test-fetches balances with keys that are not stored (yet), as a sync would: inside the exchange's budget
   * (waiting for it up to `timeoutMs`), aborted at `timeoutMs` or when `signal` aborts, the result validated, and
   * every error scrubbed of the credential values. Records nothing and takes no slot of the global cap: it is one
   * interactive call for a user waiting on a form. Never rejects. `error.permanent` on the result means the exchange
   * refused the keys; other codes mean it could not tell.
   */
  async verifyCredentials(
    request: { connection: Connection; credentials: Credentials },
    { signal, timeoutMs = this.#options.timeoutMs }: { signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<VerifyCredentialsResult> {
    const { clock } = this.#options
    const { connection, credentials } = request
    const lane = this.#lanes.get(connection.exchange)
    if (!lane) {
      return { ok: false, error: new SyncError('UNKNOWN', `No adapter for exchange "${connection.exchange}".`) }
    }
    const deadline = clock.now() + timeoutMs
    let permit: LimitPermit | undefined
    while (!permit) {
      if (signal?.aborted) return { ok: false, error: new SyncError('CANCELLED', 'The caller went away.') }
      const now = clock.now()
      const decision = this.#limiter.acquire({ exchange: lane.adapter.id, connectionId: connection.id, now })
      if (decision.granted) permit = decision.permit
      else if (decision.retryAt > deadline) {
        const retryAfterMs = decision.retryAt - now
        const message = `The ${lane.adapter.id} budget is spent; try again in ${Math.ceil(retryAfterMs / 1000)} s.`
        return { ok: false, error: new SyncError('RATE_LIMITED', message, { retryAfterMs, scope: decision.scope }) }
      } else await this.#sleepUntil(decision.retryAt, signal)
    }
    try {
      const fetched = await this.#fetchWithTimeout(
        lane.adapter,
        { ...connection },
        { ...credentials },
        {
          signal,
          timeoutMs: Math.max(1, deadline - clock.now()),
        },
      )
      const result = validateResult(fetched)
      this.#settle(permit, { now: clock.now(), result: 'ok', usedWeight: result.usage?.usedWeight })
      return { ok: true, balances: result.balances }
    } catch (thrown) {
      const error = scrubSyncError(toSyncError(thrown), secretValues(credentials))
      this.#settle(permit, settlementFor(error, clock.now()))
      return { ok: false, error }
    }
  }

  on<E extends keyof SyncSchedulerEvents>(event: E, listener: SyncSchedulerEvents[E]): this {
    this.#events.on(event, listener as never)
    return this
  }

  once<E extends keyof SyncSchedulerEvents>(event: E, listener: SyncSchedulerEvents[E]): this {
    // Events are delivered by #emit, one listener at a time, so a once-listener removes itself here.
    const wrapper = Object.assign(
      (payload: never) => {
        this.#events.off(event, wrapper as never)
        return (listener as (payload: never) => unknown)(payload)
      },
      { listener },
    )
    this.#events.on(event, wrapper as never)
    return this
  }

  off<E extends keyof SyncSchedulerEvents>(event: E, listener?: SyncSchedulerEvents[E]): this {
    if (listener === undefined) {
      this.#events.off(event)
      return this
    }
    for (const registered of this.#events.listeners(event)) {
      if (registered === listener || (registered as { listener?: unknown }).listener === listener) {
        this.#events.off(event, registered as never)
      }
    }
    return this
  }

  stats(): SchedulerStats {
    const now = this.#options.clock.now()
    const exchanges: SchedulerStats['exchanges'] = {}
    for (const [id, lane] of this.#lanes) {
      const limits = this.#limiter.stats(id, now)
      const pausedUntil = Math.max(limits.pausedUntil ?? 0, lane.blockedUntil)
      exchanges[id] = {
        inFlight: lane.inFlight,
        queued: lane.urgent.length + lane.queue.length,
        budgetLeft: limits.budgetLeft,
        pausedUntil: pausedUntil > now ? pausedUntil : null,
        pausedAccounts: limits.pausedAccounts,
      }
    }
    return { inFlight: this.#running.size, queued: this.#queued.size, sweeping: this.#sweeps().length > 0, exchanges }
  }

  // --- sweeps ---------------------------------------------------------------------------------------------

  #scheduleTick(delayMs: number): void {
    this.#clearTimer('tick')
    this.#tickTimer = this.#options.clock.setTimeout(() => {
      this.#tickTimer = undefined
      this.#tick()
    }, delayMs)
  }

  /** Starts a sweep for every exchange that has none running; an exchange still sweeping is left to finish. */
  #tick(): void {
    if (!this.#started) return
    const now = this.#options.clock.now()
    this.#beginSweeps(
      this.#laneOrder.filter((lane) => !lane.sweep).map((lane) => this.#startSweep(lane, now)),
      now,
    )
    this.#scheduleTick(this.#options.tickMs)
  }

  #startSweep(lane: Lane, now: number): Sweep {
    let finish!: (report: ExchangeSweepReport) => void
    const done = new Promise<ExchangeSweepReport>((resolve) => {
      finish = resolve
    })
    const sweep: Sweep = {
      lane,
      now,
      cursor: undefined,
      exhausted: false,
      fetching: false,
      report: { exchange: lane.adapter.id, attempted: 0, succeeded: 0, failed: 0, startedAt: now, finishedAt: now },
      pending: 0,
      done,
      finish,
    }
    lane.sweep = sweep
    return sweep
  }

  /** Queues the active users' due connections before the first page is read, so they go first. */
  #beginSweeps(sweeps: Sweep[], now: number): void {
    if (sweeps.length === 0) return
    void this.#prioritizeActiveUsers(sweeps, now)
      .catch((error: unknown) => this.#emitError('Putting active users first failed', error))
      .then(() => {
        for (const sweep of sweeps) this.#refill(sweep)
      })
  }

  #sweeps(): Sweep[] {
    const sweeps: Sweep[] = []
    for (const lane of this.#laneOrder) if (lane.sweep) sweeps.push(lane.sweep)
    return sweeps
  }

  /** Puts the due connections of the users who looked most recently at the front of new sweeps. */
  async #prioritizeActiveUsers(sweeps: Sweep[], now: number): Promise<void> {
    if (this.#activeUsers.size === 0) return
    const recent: string[] = []
    for (const [userId, until] of this.#activeUsers) {
      if (until > now) recent.push(userId)
      else this.#activeUsers.delete(userId)
    }
    if (recent.length > 0) await this.#enqueueActiveUsers(recent.slice(-ACTIVE_USERS_PER_SWEEP), sweeps)
  }

  /** Reads the next page of an exchange's due connections when its queue runs low. */
  #refill(sweep: Sweep): void {
    if (sweep.exhausted || sweep.fetching || sweep.lane.queue.length >= this.#options.pageSize / 2) return
    sweep.fetching = true
    void this.#readPage(sweep)
  }

  async #readPage(sweep: Sweep): Promise<void> {
    const { pageSize, store } = this.#options
    const { lane } = sweep
    const exchange = lane.adapter.id
    try {
      const page = await store.listDue(sweep.now, pageSize, { exchange, after: sweep.cursor })
      if (page.length < pageSize || this.#closing) sweep.exhausted = true
      const last = page.at(-1)
      if (last) sweep.cursor = { lastSyncAt: last.lastSyncAt, id: last.id }
      if (!this.#closing) for (const connection of page) this.#offer(sweep, connection, false)
    } catch (error) {
      sweep.exhausted = true
      this.#emitError(`store.listDue failed for exchange "${exchange}"`, error)
    } finally {
      sweep.fetching = false
    }
    this.#pump()
    this.#maybeFinish(sweep)
  }

  async #enqueueActiveUsers(userIds: string[], sweeps: Sweep[]): Promise<void> {
    const { store } = this.#options
    const lists = await Promise.all(
      userIds.map((userId) =>
        Promise.resolve()
          .then(() => store.listByUser(userId))
          .catch((error: unknown) => {
            this.#emitError('store.listByUser failed for a user', error)
            return [] as Connection[]
          }),
      ),
    )
    if (this.#closing) return
    for (const connection of lists.flat()) {
      const sweep = sweeps.find((candidate) => candidate.lane.adapter.id === connection.exchange)
      if (!sweep || sweep.lane.sweep !== sweep) continue
      const due = connection.status === 'active' && (connection.nextSyncAt ?? 0) <= sweep.now
      if (due) this.#offer(sweep, connection, true)
    }
    this.#pump()
  }

  /** Queues a due connection for the sweep unless it is already running, queued or held. */
  #offer(sweep: Sweep, connection: Connection, urgent: boolean): void {
    const queued = this.#queued.get(connection.id)
    if (queued) {
      if (urgent) this.#promote(queued)
      return
    }
    if (this.#running.has(connection.id)) return
    const heldUntil = this.#held.get(connection.id)
    if (heldUntil !== undefined) {
      if (heldUntil > sweep.now) return
      this.#held.delete(connection.id)
    }
    sweep.pending++
    this.#enqueue(sweep.lane, connection, 'sweep', sweep, urgent)
  }

  #maybeFinish(sweep: Sweep): void {
    if (sweep.lane.sweep !== sweep || sweep.pending > 0 || !sweep.exhausted || sweep.fetching) return
    sweep.lane.sweep = null
    sweep.report.finishedAt = this.#options.clock.now()
    sweep.finish(sweep.report)
    this.#emit('sweep:end', sweep.report)
  }

  // --- dispatch -------------------------------------------------------------------------------------------

  #enqueue(lane: Lane, connection: Connection, trigger: Trigger, sweep: Sweep | null, urgent: boolean): Job {
    let resolve!: (outcome: SyncOutcome) => void
    const promise = new Promise<SyncOutcome>((done) => {
      resolve = done
    })
    const job: Job = { connection, trigger, sweep, notBefore: 0, resolve, promise }
    this.#queued.set(connection.id, job)
    ;(urgent ? lane.urgent : lane.queue).push(job)
    return job
  }

  #promote(job: Job): void {
    const lane = this.#lanes.get(job.connection.exchange) as Lane
    const index = lane.queue.indexOf(job)
    if (index === -1) return
    lane.queue.splice(index, 1)
    lane.urgent.push(job)
    this.#pump()
  }

  /** Starts whatever the caps and the limiter allow, round-robin over exchanges. Re-entrant calls coalesce. */
  #pump(): void {
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

  #startWhatCan(): void {
    const { concurrency, clock } = this.#options
    const now = clock.now()
    let wakeAt = Number.POSITIVE_INFINITY
    const stuck = new Set<Lane>()
    while (this.#running.size < concurrency) {
      const lane = this.#pickLane(stuck, now)
      if (!lane) break
      const result = this.#startNext(lane, now)
      if (result !== true) {
        stuck.add(lane)
        wakeAt = Math.min(wakeAt, result)
      }
    }
    for (const lane of this.#laneOrder) {
      if (lane.blockedUntil > now && (lane.urgent.length > 0 || lane.queue.length > 0)) {
        wakeAt = Math.min(wakeAt, lane.blockedUntil)
      }
    }
    this.#clearTimer('wake')
    if (wakeAt < Number.POSITIVE_INFINITY) {
      this.#wakeTimer = clock.setTimeout(
        () => {
          this.#wakeTimer = undefined
          this.#pump()
        },
        Math.max(0, wakeAt - now),
      )
    }
  }

  /**
   * The lane that gets the next free slot: of the lanes with work, the one with the fewest syncs in flight, taking
   * turns on ties. A lane at or past its fair share of the global cap only gets a slot that no other lane with work
   * is owed, so an exchange whose calls hang cannot collect every slot while another has work; one whose last calls
   * timed out is owed a single slot while a healthy one has work. A lane waiting for budget is still owed its share
   * (it will need it soon), unless its wait is longer than a call may take.
   */
  #pickLane(stuck: ReadonlySet<Lane>, now: number): Lane | undefined {
    const { concurrency, timeoutMs } = this.#options
    const wanting = this.#laneOrder.filter((lane) => this.#wants(lane, now, timeoutMs))
    if (wanting.length === 0) return undefined
    const isHanging = (lane: Lane) => lane.timeoutsInARow >= HANGING_AFTER_TIMEOUTS
    const hanging = wanting.filter(isHanging).length
    const healthy = wanting.length - hanging
    const fairShare =
      healthy > 0
        ? Math.max(1, Math.floor((concurrency - hanging) / healthy))
        : Math.max(1, Math.floor(concurrency / hanging))
    const shareOf = (lane: Lane) => (healthy > 0 && isHanging(lane) ? 1 : fairShare)
    const free = concurrency - this.#running.size
    let owed = 0
    for (const lane of wanting) owed += Math.max(0, shareOf(lane) - lane.inFlight)
    let best: Lane | undefined
    let bestTurn = 0
    const lanes = this.#laneOrder
    for (let turn = 0; turn < lanes.length; turn++) {
      const lane = lanes[(this.#nextLane + turn) % lanes.length] as Lane
      if (stuck.has(lane) || lane.blockedUntil > now || !wanting.includes(lane)) continue
      const ownDue = Math.max(0, shareOf(lane) - lane.inFlight)
      if (ownDue === 0 && free - 1 < owed) continue
      if (!best || lane.inFlight < best.inFlight) {
        best = lane
        bestTurn = turn
      }
    }
    if (best) this.#nextLane = (this.#nextLane + bestTurn + 1) % lanes.length
    return best
  }

  #wants(lane: Lane, now: number, horizonMs: number): boolean {
    return (
      (lane.urgent.length > 0 || lane.queue.length > 0 || lane.sweep?.fetching === true) &&
      lane.inFlight < lane.concurrency &&
      lane.blockedUntil <= now + horizonMs
    )
  }

  /** Starts one job of the lane: true when it did, else when asking again may help (or Infinity). */
  #startNext(lane: Lane, now: number): true | number {
    if (lane.inFlight >= lane.concurrency) return Number.POSITIVE_INFINITY
    if (lane.blockedUntil > now) return lane.blockedUntil
    let wakeAt = Number.POSITIVE_INFINITY
    let scanned = 0
    for (const list of lane.urgent.length > 0 ? [lane.urgent, lane.queue] : [lane.queue]) {
      for (let index = 0; index < list.length && scanned < SCAN_DEPTH; index++, scanned++) {
        const job = list[index] as Job
        if (job.notBefore > now) {
          wakeAt = Math.min(wakeAt, job.notBefore)
          continue
        }
        const decision = this.#limiter.acquire({ exchange: lane.adapter.id, connectionId: job.connection.id, now })
        if (decision.granted) {
          if (index === 0) list.shift()
          else list.splice(index, 1)
          this.#run(lane, job, decision.permit)
          return true
        }
        if (decision.scope === 'exchange') {
          if (decision.retryAt > lane.blockedUntil) {
            lane.blockedUntil = decision.retryAt
            this.#emitRateLimit(lane.adapter.id, 'exchange', lane.adapter.id, decision, now)
          }
          return decision.retryAt
        }
        if (decision.retryAt > job.notBefore) {
          job.notBefore = decision.retryAt
          this.#emitRateLimit(lane.adapter.id, 'account', job.connection.id, decision, now)
        }
        wakeAt = Math.min(wakeAt, decision.retryAt)
      }
    }
    return wakeAt
  }

  #warnFallback(exchange: string): void {
    const { limit, windowMs } = this.#options.limits.get(exchange)?.budgets[0] ?? { limit: 0, windowMs: 0 }
    this.#emit('warning', {
      code: 'DEFAULT_LIMITS',
      exchange,
      message:
        `No rate limits are known for "${exchange}": syncing it at most ${limit} per ${windowMs / 1000} s for the ` +
        `whole exchange. Set limits.${exchange} to the exchange's published limits.`,
    })
  }

  #sleepUntil(at: number, signal: AbortSignal | undefined): Promise<void> {
    const { clock } = this.#options
    return new Promise((resolve) => {
      const done = () => {
        clock.clearTimeout(timer)
        signal?.removeEventListener('abort', done)
        resolve()
      }
      const timer = clock.setTimeout(done, Math.max(0, at - clock.now()))
      signal?.addEventListener('abort', done, { once: true })
    })
  }

  /** Tells the limiter how a sync ended; a pause it starts is announced as a `ratelimit` event. */
  #settle(permit: LimitPermit, settlement: LimitSettlement): void {
    const paused = this.#limiter.settle(permit, settlement)?.pausedUntil
    if (paused === undefined || settlement.result !== 'rate-limited') return
    const scope = settlement.scope ?? 'exchange'
    const key = scope === 'account' ? permit.connectionId : permit.exchange
    this.#emit('ratelimit', {
      exchange: permit.exchange,
      scope,
      key,
      waitMs: paused - settlement.now,
      reason: 'retry-after',
    })
  }

  /** Announces a budget wait; waits for a pause already announced when it began (in `#settle`) are not repeated. */
  #emitRateLimit(
    exchange: string,
    scope: 'exchange' | 'account',
    key: string,
    decision: { retryAt: number; reason: 'budget' | 'retry-after' },
    now: number,
  ): void {
    if (decision.reason !== 'budget') return
    this.#emit('ratelimit', { exchange, scope, key, waitMs: decision.retryAt - now, reason: 'budget' })
  }

  #run(lane: Lane, job: Job, permit: LimitPermit): void {
    const id = job.connection.id
    if (this.#unwarned.delete(lane.adapter.id)) this.#warnFallback(lane.adapter.id)
    this.#queued.delete(id)
    lane.inFlight++
    if (job.sweep) job.sweep.report.attempted++
    const promise = this.#execute(lane, job, permit).catch((error: unknown) => {
      // #execute turns every failure into an outcome; this is the net under that promise, so the slot, the sweep
      // and the caller are released whatever goes wrong (a throwing custom limiter, say).
      this.#emitError(`The sync of connection ${id} failed unexpectedly`, error)
      return failed(id, new SyncError('UNKNOWN', 'The sync failed unexpectedly.'))
    })
    this.#running.set(id, promise)
    void promise.then((outcome) => {
      lane.inFlight--
      lane.timeoutsInARow = !outcome.ok && outcome.error.code === 'TIMEOUT' ? lane.timeoutsInARow + 1 : 0
      this.#running.delete(id)
      job.resolve(outcome)
      const sweep = job.sweep
      if (sweep) {
        sweep.pending--
        if (outcome.ok) sweep.report.succeeded++
        else sweep.report.failed++
        this.#refill(sweep)
        this.#maybeFinish(sweep)
      }
      this.#pump()
    })
    if (job.sweep) this.#refill(job.sweep)
  }

  /** Takes a queued job out without running it. */
  #drop(job: Job): void {
    const lane = this.#lanes.get(job.connection.exchange) as Lane
    for (const list of [lane.urgent, lane.queue]) {
      const index = list.indexOf(job)
      if (index !== -1) list.splice(index, 1)
    }
    this.#queued.delete(job.connection.id)
    job.resolve(cancelled(job.connection.id, 'The scheduler stopped before this sync started.'))
    if (job.sweep) {
      job.sweep.pending--
      this.#maybeFinish(job.sweep)
    }
  }

  // --- one sync -------------------------------------------------------------------------------------------

  /** Runs one sync to its end. Never rejects: every failure becomes an outcome. */
  async #execute(lane: Lane, job: Job, permit: LimitPermit): Promise<SyncOutcome> {
    const { clock, store } = this.#options
    const { connection, trigger } = job
    const base = { connectionId: connection.id, userId: connection.userId, exchange: connection.exchange, trigger }
    const startedAt = clock.now()
    const aborts = this.#aborts
    if (this.#listening('sync:start')) this.#emit('sync:start', { ...base, startedAt })

    let credentials: Credentials | null
    try {
      credentials = await store.getCredentials(connection.id)
    } catch (error) {
      this.#hold(connection.id)
      this.#emitError(`store.getCredentials failed for connection ${connection.id}`, error)
      this.#limiter.settle(permit, { now: clock.now(), result: 'failed' })
      return this.#reportFailure(
        base,
        startedAt,
        new SyncError('UNKNOWN', 'Could not read the credentials.'),
        null,
        false,
      )
    }
    if (!credentials) {
      this.#limiter.settle(permit, { now: clock.now(), result: 'failed' })
      return this.#reportFailure(
        base,
        startedAt,
        new SyncError('CANCELLED', 'The connection was removed.'),
        null,
        false,
      )
    }

    if (aborts !== this.#aborts) {
      this.#limiter.settle(permit, { now: clock.now(), result: 'failed' })
      const error = new SyncError('CANCELLED', 'The scheduler stopped before this sync finished.')
      return this.#reportFailure(base, startedAt, error, null, false)
    }

    let result: FetchBalancesResult
    try {
      result = validateResult(await this.#fetchWithTimeout(lane.adapter, connection, credentials))
    } catch (thrown) {
      const error = scrubSyncError(toSyncError(thrown), secretValues(credentials))
      return this.#recordFailure(base, connection, credentials, startedAt, error, permit)
    }

    const finishedAt = clock.now()
    this.#settle(permit, { now: finishedAt, result: 'ok', usedWeight: result.usage?.usedWeight })
    const nextSyncAt = nextPhaseAt(connection.id, finishedAt, this.#options.intervalMs)
    try {
      await store.recordSuccess(connection.id, { balances: result.balances, startedAt, finishedAt, nextSyncAt })
    } catch (error) {
      this.#hold(connection.id)
      this.#emitError(`store.recordSuccess failed for connection ${connection.id}`, error)
      return this.#reportFailure(
        base,
        startedAt,
        new SyncError('UNKNOWN', 'Could not store the balances.'),
        null,
        false,
      )
    }
    if (this.#listening('sync:success')) {
      this.#emit('sync:success', { ...base, balances: result.balances, startedAt, finishedAt, nextSyncAt })
    }
    return { ok: true, connectionId: connection.id, balances: result.balances }
  }

  /** Calls the adapter; settles as TIMEOUT at `timeoutMs` even if the adapter ignores its signal. */
  #fetchWithTimeout(
    adapter: ExchangeAdapter,
    connection: Connection,
    credentials: Credentials,
    { signal, timeoutMs = this.#options.timeoutMs }: { signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<unknown> {
    const { clock } = this.#options
    const controller = new AbortController()
    return new Promise<unknown>((resolve, reject) => {
      let settled = false
      let timer: TimerHandle | undefined
      const settle = () => {
        settled = true
        if (timer !== undefined) clock.clearTimeout(timer)
        this.#adapterCalls.delete(abort)
        signal?.removeEventListener('abort', onCallerAbort)
      }
      // Rejects at once, whether or not the adapter honours its signal.
      const abort = (reason: SyncError) => {
        if (settled) return
        settle()
        controller.abort(reason)
        reject(reason)
      }
      const onCallerAbort = () => abort(new SyncError('CANCELLED', 'The caller went away before the sync finished.'))
      if (signal?.aborted) return onCallerAbort()
      signal?.addEventListener('abort', onCallerAbort, { once: true })
      this.#adapterCalls.add(abort)
      timer = clock.setTimeout(
        () => abort(new SyncError('TIMEOUT', `No answer from ${adapter.id} within ${timeoutMs} ms.`)),
        timeoutMs,
      )
      Promise.resolve()
        .then(() => adapter.fetchBalances({ connection, credentials, signal: controller.signal }))
        .then(
          (value) => {
            if (settled) return
            settle()
            resolve(value)
          },
          (error) => {
            if (settled) return
            settle()
            reject(error)
          },
        )
    })
  }

  async #recordFailure(
    base: Omit<SyncFailureEvent, 'error' | 'startedAt' | 'finishedAt' | 'nextSyncAt' | 'disabled'>,
    connection: Connection,
    used: Credentials,
    startedAt: number,
    error: SyncError,
    permit: LimitPermit,
  ): Promise<SyncOutcome> {
    const { backoff, clock, intervalMs, random, store } = this.#options
    const finishedAt = clock.now()
    this.#settle(permit, settlementFor(error, finishedAt))
    if (error.code === 'CANCELLED') return this.#reportFailure(base, startedAt, error, null, false)
    // New keys may have arrived while this call ran with the old ones: its failure says nothing about them, and
    // recording it would disable (or back off) a connection the user just repaired.
    if (!(await this.#stillUses(connection.id, used))) return this.#reportFailure(base, startedAt, error, null, false)
    const disable = error.permanent
    const delay = backoffDelay(connection.failureCount + 1, backoff, intervalMs, random)
    const nextSyncAt = finishedAt + Math.max(delay, error.retryAfterMs ?? 0)
    try {
      await store.recordFailure(connection.id, {
        error: { code: error.code, message: error.message },
        startedAt,
        finishedAt,
        nextSyncAt,
        disable,
      })
    } catch (storeError) {
      this.#hold(connection.id)
      this.#emitError(`store.recordFailure failed for connection ${connection.id}`, storeError)
    }
    const outcome = this.#reportFailure(base, startedAt, error, nextSyncAt, disable)
    if (disable) {
      const { connectionId, userId, exchange } = base
      this.#emit('connection:disabled', { connectionId, userId, exchange, error })
    }
    return outcome
  }

  async #stillUses(connectionId: string, used: Credentials): Promise<boolean> {
    try {
      const current = await this.#options.store.getCredentials(connectionId)
      return current !== null && sameCredentials(current, used)
    } catch {
      return true
    }
  }

  #reportFailure(
    base: Omit<SyncFailureEvent, 'error' | 'startedAt' | 'finishedAt' | 'nextSyncAt' | 'disabled'>,
    startedAt: number,
    error: SyncError,
    nextSyncAt: number | null,
    disabled: boolean,
  ): SyncOutcome {
    const finishedAt = this.#options.clock.now()
    this.#emit('sync:failure', { ...base, error, startedAt, finishedAt, nextSyncAt, disabled })
    return { ok: false, connectionId: base.connectionId, error }
  }

  /** After a store failure, leave the connection alone for an interval instead of retrying it every tick. */
  #hold(connectionId: string): void {
    const now = this.#options.clock.now()
    if (this.#held.size > 10_000) for (const [id, until] of this.#held) if (until <= now) this.#held.delete(id)
    this.#held.set(connectionId, now + this.#options.intervalMs)
  }

  // --- events ---------------------------------------------------------------------------------------------

  #listening(event: keyof SyncSchedulerEvents): boolean {
    return this.#events.listenerCount(event) > 0
  }

  /** Calls each listener on its own, so one that throws (or rejects) neither breaks the scheduler nor the rest. */
  #emit<E extends keyof SyncSchedulerEvents>(event: E, payload: Parameters<SyncSchedulerEvents[E]>[0]): void {
    for (const listener of this.#events.listeners(event)) {
      try {
        const returned = (listener as (value: unknown) => unknown)(payload)
        if (returned instanceof Promise) returned.catch((error) => this.#listenerFailed(event, error))
      } catch (error) {
        this.#listenerFailed(event, error)
      }
    }
  }

  #listenerFailed(event: keyof SyncSchedulerEvents, error: unknown): void {
    if (event === 'error') return
    this.#emitError(`A "${event}" listener threw`, error)
  }

  #emitError(context: string, cause: unknown): void {
    const message = cause instanceof Error ? cause.message : String(cause)
    this.#emit('error', new Error(`${context}: ${message}`, { cause }))
  }

  #clearTimer(which: 'tick' | 'wake'): void {
    const handle = which === 'tick' ? this.#tickTimer : this.#wakeTimer
    if (handle !== undefined) this.#options.clock.clearTimeout(handle)
    if (which === 'tick') this.#tickTimer = undefined
    else this.#wakeTimer = undefined
  }
}

function failed(connectionId: string, error: SyncError): SyncOutcome {
  return { ok: false, connectionId, error }
}

function cancelled(connectionId: string, message: string): SyncOutcome {
  return failed(connectionId, new SyncError('CANCELLED', message))
}

function settlementFor(error: SyncError, now: number): LimitSettlement {
  return error.code === 'RATE_LIMITED'
    ? { now, result: 'rate-limited', retryAfterMs: error.retryAfterMs, scope: error.scope ?? 'exchange' }
    : { now, result: 'failed' }
}

function sum(reports: SweepReport[], field: 'attempted' | 'succeeded' | 'failed'): number {
  let total = 0
  for (const report of reports) total += report[field]
  return total
}

function sameCredentials(a: Credentials, b: Credentials): boolean {
  return a.apiKey === b.apiKey && a.secret === b.secret && a.password === b.password && a.uid === b.uid
}
