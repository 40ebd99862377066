import { SyncError } from '../errors/syncError.js'
import { BudgetLimiter } from '../limits/budgetLimiter.js'
import type { LimitPermit, SyncLimiter } from '../limits/syncLimiter.js'
import type { Connection, Credentials, ExchangeAdapter } from '../types.js'
import type { TimerHandle } from './clock.js'
import { Dispatcher, type DispatchJob, dispatchJob, type Lane } from './dispatcher.js'
import { EventBus } from './eventBus.js'
import type {
  SchedulerHealth,
  SchedulerLogger,
  SweepReport,
  SyncOutcome,
  SyncSchedulerEvents,
  VerifyCredentialsResult,
} from './events.js'
import { Lifecycle } from './lifecycle.js'
import { type ResolvedOptions, resolveOptions, type SyncSchedulerOptions } from './options.js'
import type { Scheduler } from './scheduler.js'
import { laneStats, schedulerHealth } from './schedulerHealth.js'
import { StoreCalls } from './storeCalls.js'
import { type Sweep, SweepReader } from './sweepReader.js'
import { pausesExchange, SyncRunner, type Trigger } from './syncRunner.js'
import { exchangePaused, unsupportedExchange, verifyInLane } from './verifyInLane.js'

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

/** A queued or running sync of one stored connection, for joining. */
interface Entry {
  readonly job: DispatchJob
  readonly lane: Lane
  readonly adapter: ExchangeAdapter
  readonly trigger: Trigger
  readonly sweep: Sweep | null
  readonly promise: Promise<SyncOutcome>
  readonly resolve: (outcome: SyncOutcome) => void
}

/** A lane waiting less than this for its budget or a pause keeps its share of the slots. */
const SHORT_WAIT_MS = 1_000

/** How many newly active users one look-up reads (each costs a `listByUser`). */
const ACTIVE_USERS_PER_LOOKUP = 100

/**
 * Keeps every active connection of a SyncStore synced about once per `intervalMs`: at most `concurrency` syncs in
 * flight, one per connection, each exchange in its own lane, hanging calls aborted, failures isolated and backed
 * off, revoked keys taken out of rotation, and `stop()` draining what runs.
 *
 * A facade over the parts of the core: the sweep reader pages due connections out of the store, the dispatcher
 * starts them as the caps and the limiter allow, the sync runner runs each one end to end, and one lifecycle
 * answers "may this still start?".
 */
export class SyncScheduler implements Scheduler {
  readonly #options: ResolvedOptions
  readonly #lifecycle = new Lifecycle()
  readonly #events = new EventBus()
  readonly #limiter: SyncLimiter
  readonly #runner: SyncRunner
  readonly #dispatcher: Dispatcher
  readonly #reader: SweepReader
  /** Exchange -> its sweep in progress. Each exchange sweeps on its own, so one held up delays no other. */
  readonly #sweeps = new Map<string, Sweep>()
  /** The pass that finds connections whose exchange has no adapter; once per interval. */
  #orphanSweep: Sweep | null = null
  #orphanSweptAt = Number.NEGATIVE_INFINITY
  /** Connection id -> the sync queued or in flight. */
  readonly #entries = new Map<string, Entry>()
  /** Connection id -> the sync in flight. */
  readonly #running = new Map<string, Promise<SyncOutcome>>()
  /** User id -> until when their connections go first. */
  readonly #activeUsers = new Map<string, number>()
  /** Users who became active and whose connections were not looked up yet. */
  readonly #freshUsers = new Set<string>()
  /** Exchanges on the fallback budget not warned about yet; exchanges without adapter already warned about. */
  readonly #unwarned: Set<string>
  readonly #unsupportedWarned = new Set<string>()
  #runOnce: Promise<SweepReport> | null = null
  #stopping: Promise<void> | null = null
  #tickTimer: TimerHandle | undefined
  /** Exchange -> end of its last finished sweep. */
  readonly #lastSweepAt = new Map<string, number>()
  /** When start() last ran, for the health check's "no sweep in two intervals". */
  #startedAt: number | null = null

  constructor(options: SyncSchedulerOptions) {
    this.#options = resolveOptions(options)
    const { clock, concurrency, limits, storeTimeoutMs, store } = this.#options
    this.#limiter = this.#options.limiter ?? new BudgetLimiter(limits)
    const storeCalls = new StoreCalls(clock, storeTimeoutMs)
    this.#runner = new SyncRunner({
      store,
      storeCalls,
      limiter: this.#limiter,
      events: this.#events,
      lifecycle: this.#lifecycle,
      clock,
      intervalMs: this.#options.intervalMs,
      timeoutMs: this.#options.timeoutMs,
      maxPauseMs: this.#options.maxPauseMs,
      backoff: this.#options.backoff,
      random: this.#options.random,
    })
    this.#dispatcher = new Dispatcher({
      clock,
      limiter: this.#limiter,
      events: this.#events,
      concurrency,
      lanes: [...this.#options.exchanges.keys()].map((exchange) => ({
        exchange,
        concurrency: limits.get(exchange)?.concurrency ?? Number.POSITIVE_INFINITY,
      })),
      // A wait under a second keeps a lane's share (lending its slots for less gains little and risks them being
      // held by slow calls); a wait shorter than a call may take keeps it from a lane whose calls hang.
      waitHorizons: { anyMs: Math.min(SHORT_WAIT_MS, this.#options.timeoutMs), hangingMs: this.#options.timeoutMs },
      isLoading: (lane) => this.#sweeps.get(lane.exchange)?.fetching === true,
      onBlocked: (lane, until) => this.#onBlocked(lane, until),
    })
    this.#reader = new SweepReader({
      store,
      storeCalls,
      clock,
      events: this.#events,
      lifecycle: this.#lifecycle,
      pageSize: this.#options.pageSize,
      offer: (sweep, connection) => this.#offer(sweep, connection, false),
      backlog: (sweep) =>
        sweep.exchange === undefined ? sweep.pending : (this.#dispatcher.lane(sweep.exchange)?.queue.length ?? 0),
      onPage: () => this.#dispatcher.pump(),
      onFinish: (sweep) => this.#sweepEnded(sweep),
    })
    this.#unwarned = new Set(this.#options.fallbackExchanges)
    this.#storeCalls = storeCalls
    if (this.#options.logger) this.#log(this.#options.logger)
  }

  readonly #storeCalls: StoreCalls

  /** Starts the background schedule. Idempotent. */
  start(): void {
    if (!this.#lifecycle.start()) return
    this.#startedAt = this.#options.clock.now()
    this.#scheduleTick(0)
  }

  /**
   * Stops scheduling and waits for the syncs in flight. Queued syncs are dropped (their `syncNow` callers get a
   * `CANCELLED` outcome); syncs still running after `timeoutMs` are aborted and end as `CANCELLED`, unrecorded.
   * Calls that overlap share one drain. Nothing starts after it resolves, however late a store answers.
   */
  stop({ timeoutMs = 30_000 }: { timeoutMs?: number } = {}): Promise<void> {
    if (!this.#stopping) {
      this.#stopping = this.#drain(timeoutMs).finally(() => {
        this.#dispatcher.close()
        this.#lifecycle.endStop()
        this.#stopping = null
      })
    }
    return this.#stopping
  }

  async #drain(timeoutMs: number): Promise<void> {
    this.#lifecycle.beginStop()
    this.#startedAt = null
    this.#clearTick()
    this.#dispatcher.drop(new SyncError('CANCELLED', 'The scheduler stopped before this sync started.'))
    const sweeps = this.#allSweeps()
    for (const sweep of sweeps) this.#reader.close(sweep)
    const settled = Promise.all([...this.#running.values(), ...sweeps.map((sweep) => sweep.done)])
    if (await this.#within(settled, timeoutMs)) return
    // Past the deadline: abort what still runs. A sync not yet at its adapter call sees the abort and stops there.
    this.#lifecycle.abortInFlight()
    this.#runner.abortAll(new SyncError('CANCELLED', 'The scheduler stopped before this sync finished.'))
    // Aborted syncs end at once; store calls time out; stop() returns either way.
    if (!(await this.#within(settled, Math.max(timeoutMs, this.#options.storeTimeoutMs, 1_000)))) {
      this.#events.error('stop() returned with syncs still waiting for the store', new Error('store did not answer'))
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
   * Syncs every due connection now: sweeps every exchange (joining an exchange's sweep in progress) and records an
   * `UNSUPPORTED_EXCHANGE` failure on due connections whose exchange has no adapter; resolves when all are done,
   * with their counts summed. A `runOnce` during another joins it.
   */
  runOnce(): Promise<SweepReport> {
    if (this.#runOnce) return this.#runOnce
    const now = this.#options.clock.now()
    if (this.#lifecycle.stopping) {
      return Promise.resolve({ attempted: 0, succeeded: 0, failed: 0, startedAt: now, finishedAt: now })
    }
    const sweeps = [...this.#beginSweeps(now, true)]
    for (const lane of this.#dispatcher.lanes) {
      const sweep = this.#sweeps.get(lane.exchange)
      if (sweep && !sweeps.includes(sweep)) sweeps.push(sweep)
    }
    if (this.#orphanSweep && !sweeps.includes(this.#orphanSweep)) sweeps.push(this.#orphanSweep)
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
   * connection that is in flight or queued. Resolves to the outcome; rejects only for an unknown connection. When a
   * pause or a budget would keep it waiting longer than `timeoutMs`, it resolves at once with `RATE_LIMITED`
   * (`retryAfterMs`: the wait left), so a ban of days never holds a request open.
   */
  async syncNow(connectionId: string): Promise<SyncOutcome> {
    const joined = this.#join(connectionId)
    if (joined) return joined
    const generation = this.#lifecycle.generation
    let connection: Connection | null
    try {
      connection = await this.#storeCalls.run('store.get', () => this.#options.store.get(connectionId))
    } catch (error) {
      this.#events.error(`store.get failed for connection ${connectionId}`, error)
      return failed(connectionId, new SyncError('UNKNOWN', 'Could not read the connection.'))
    }
    if (!connection) throw new SyncError('UNKNOWN', `Unknown connection "${connectionId}".`)
    // A stop() that began while the store answered wins: nothing starts after stop().
    if (!this.#lifecycle.mayStart(generation)) return cancelled(connectionId, 'The scheduler stopped.')
    this.markActive(connection.userId)
    const rejoined = this.#join(connectionId)
    if (rejoined) return rejoined
    if (connection.status === 'error') {
      // The keys were rejected; only new credentials can help, and retrying bad keys risks an exchange ban.
      const code = connection.lastError?.code ?? 'AUTH_FAILED'
      return failed(
        connectionId,
        new SyncError(code as SyncError['code'], 'Reconnect needed: the last sync was rejected.'),
      )
    }
    const lane = this.#dispatcher.lane(connection.exchange)
    if (!lane) return failed(connectionId, unsupportedExchange(connection.exchange))
    const now = this.#options.clock.now()
    const waitUntil = now + this.#options.timeoutMs
    if (lane.blockedUntil > waitUntil)
      return failed(connectionId, exchangePaused(lane.exchange, lane.blockedUntil - now))
    const entry = this.#enqueue(lane, connection, 'manual', null, true, waitUntil)
    this.#dispatcher.pump()
    return entry.promise
  }

  /** The user is looking now: their due connections go first for `activeForMs`. */
  markActive(userId: string): void {
    const now = this.#options.clock.now()
    if (this.#activeUsers.size > 10_000) {
      for (const [user, until] of this.#activeUsers) if (until <= now) this.#activeUsers.delete(user)
    }
    const wasActive = (this.#activeUsers.get(userId) ?? 0) > now
    // Re-inserted so the map stays in order of the latest mark.
    this.#activeUsers.delete(userId)
    this.#activeUsers.set(userId, now + this.#options.activeForMs)
    // Only a user who just became active is looked up: reads follow arrivals, not how many users stay active.
    if (wasActive) return
    if (this.#freshUsers.size >= ACTIVE_USERS_PER_LOOKUP) {
      // Only the most recent are looked up; the others still go first as the sweep's pages come in.
      this.#freshUsers.delete(this.#freshUsers.values().next().value as string)
    }
    this.#freshUsers.add(userId)
    if (this.#sweeps.size > 0) void this.#lookUpFreshUsers()
  }

  /** The ids of the exchanges this scheduler syncs (one per adapter). */
  get exchanges(): string[] {
    return [...this.#options.exchanges.keys()]
  }

  /**
   * Test-fetches balances with keys that are not stored (yet), as a sync would: through the same caps (global and
   * per exchange) and budget as syncs, aborted at `timeoutMs` or when `signal` aborts, the result validated, and
   * every error scrubbed of the credential values. Records nothing. Never rejects. `error.permanent` on the result
   * means the exchange refused the keys; other codes mean it could not tell.
   */
  verifyCredentials(
    request: { connection: Connection; credentials: Credentials },
    { signal, timeoutMs = this.#options.timeoutMs }: { signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<VerifyCredentialsResult> {
    const parts = { dispatcher: this.#dispatcher, runner: this.#runner, clock: this.#options.clock }
    return verifyInLane(parts, this.#options.exchanges.get(request.connection.exchange), request, { signal, timeoutMs })
  }

  on<E extends keyof SyncSchedulerEvents>(event: E, listener: SyncSchedulerEvents[E]): this {
    this.#events.on(event, listener)
    return this
  }

  /** Listens for one event only. `off(event, listener)` with the same listener removes it before it fires. */
  once<E extends keyof SyncSchedulerEvents>(event: E, listener: SyncSchedulerEvents[E]): this {
    this.#events.once(event, listener)
    return this
  }

  off<E extends keyof SyncSchedulerEvents>(event: E, listener?: SyncSchedulerEvents[E]): this {
    this.#events.off(event, listener)
    return this
  }

  stats(): SchedulerStats {
    const lanes = laneStats(this.#dispatcher, this.#limiter, this.#options.clock.now())
    return { ...lanes, sweeping: this.#allSweeps().length > 0 }
  }

  /**
   * How the scheduler is doing, for a health probe: per exchange the end of its last sweep, its pause, budget and
   * queue; the store's last failure. Not ok while the store's last call failed, or when a started scheduler has
   * finished no sweep within two intervals. A paused exchange alone does not make it not ok (`pausedUntil` says so).
   * Holds no user data.
   */
  health(): SchedulerHealth {
    return schedulerHealth({
      now: this.#options.clock.now(),
      exchanges: this.stats().exchanges,
      lastSweepAt: this.#lastSweepAt,
      storeError: this.#storeCalls.lastError,
      startedAt: this.#startedAt,
      intervalMs: this.#options.intervalMs,
    })
  }

  // --- sweeps ---------------------------------------------------------------------------------------------

  #scheduleTick(delayMs: number): void {
    this.#clearTick()
    this.#tickTimer = this.#options.clock.setTimeout(() => {
      this.#tickTimer = undefined
      this.#tick()
    }, delayMs)
  }

  #clearTick(): void {
    if (this.#tickTimer !== undefined) this.#options.clock.clearTimeout(this.#tickTimer)
    this.#tickTimer = undefined
  }

  /** Starts a sweep for every exchange that has none running and is not paused; one still sweeping finishes first. */
  #tick(): void {
    if (!this.#lifecycle.started) return
    this.#beginSweeps(this.#options.clock.now(), false)
    this.#scheduleTick(this.#options.tickMs)
  }

  /** Begins the sweeps that are not running; `all` also begins those of paused exchanges (they end at once). */
  #beginSweeps(now: number, all: boolean): Sweep[] {
    const begun: Sweep[] = []
    for (const lane of this.#dispatcher.lanes) {
      if (this.#sweeps.has(lane.exchange)) continue
      if (!all && lane.blockedUntil > now + this.#options.tickMs) continue
      const sweep = this.#reader.begin(lane.exchange, now)
      this.#sweeps.set(lane.exchange, sweep)
      begun.push(sweep)
    }
    if (!this.#orphanSweep && (all || now - this.#orphanSweptAt >= this.#options.intervalMs)) {
      this.#orphanSweptAt = now
      this.#orphanSweep = this.#reader.begin(undefined, now)
      begun.push(this.#orphanSweep)
    }
    if (begun.length === 0) return begun
    // Newly active users' due connections are queued before the first page, so they go first.
    const lookup = this.#freshUsers.size > 0 ? this.#lookUpFreshUsers() : Promise.resolve()
    void lookup.then(() => {
      for (const sweep of begun) {
        const lane = sweep.exchange === undefined ? undefined : this.#dispatcher.lane(sweep.exchange)
        if (lane && this.#pausedPastSweep(lane, now)) this.#reader.close(sweep)
        else this.#reader.refill(sweep)
      }
    })
    return begun
  }

  #allSweeps(): Sweep[] {
    const sweeps = [...this.#sweeps.values()]
    if (this.#orphanSweep) sweeps.push(this.#orphanSweep)
    return sweeps
  }

  #sweepEnded(sweep: Sweep): void {
    if (sweep.exchange === undefined) {
      if (this.#orphanSweep === sweep) this.#orphanSweep = null
      return
    }
    if (this.#sweeps.get(sweep.exchange) === sweep) this.#sweeps.delete(sweep.exchange)
    this.#lastSweepAt.set(sweep.exchange, sweep.report.finishedAt)
    this.#events.emit('sweep:end', sweep.report)
  }

  /** Queues the due connections of users who just became active, ahead of the sweep queue. */
  async #lookUpFreshUsers(): Promise<void> {
    const users = [...this.#freshUsers]
    this.#freshUsers.clear()
    const generation = this.#lifecycle.generation
    const { store } = this.#options
    const lists = await Promise.all(
      users.map((userId) =>
        this.#storeCalls
          .run('store.listByUser', () => store.listByUser(userId))
          .catch((error: unknown) => {
            this.#events.error('store.listByUser failed for a user', error)
            return [] as Connection[]
          }),
      ),
    )
    if (!this.#lifecycle.mayStart(generation)) return
    for (const list of lists) {
      for (const connection of list) {
        const sweep = this.#sweeps.get(connection.exchange)
        if (!sweep) continue
        const due = connection.status === 'active' && (connection.nextSyncAt ?? 0) <= sweep.now
        if (due) this.#offer(sweep, connection, true)
      }
    }
    this.#dispatcher.pump()
  }

  /** Queues a due connection for its sweep unless it is already queued, running or held. */
  #offer(sweep: Sweep, connection: Connection, urgent: boolean): boolean {
    if (sweep.exchange === undefined) return this.#offerOrphan(sweep, connection)
    if (connection.exchange !== sweep.exchange) return false
    const lane = this.#dispatcher.lane(sweep.exchange) as Lane
    const isUrgent = urgent || (this.#activeUsers.get(connection.userId) ?? 0) > sweep.now
    const existing = this.#entries.get(connection.id)
    if (existing) {
      if (isUrgent && !this.#running.has(connection.id)) this.#dispatcher.promote(lane, existing.job)
      return false
    }
    if (this.#runner.isHeld(connection.id, sweep.now)) return false
    if (this.#pausedPastSweep(lane, this.#options.clock.now())) {
      this.#reader.close(sweep)
      return false
    }
    sweep.pending++
    this.#enqueue(lane, connection, 'sweep', sweep, isUrgent, undefined)
    return true
  }

  /** A due connection of an exchange no adapter syncs: record it as UNSUPPORTED_EXCHANGE, never skip it silently. */
  #offerOrphan(sweep: Sweep, connection: Connection): boolean {
    if (this.#options.exchanges.has(connection.exchange) || this.#entries.has(connection.id)) return false
    if (this.#runner.isHeld(connection.id, sweep.now)) return false
    if (!this.#unsupportedWarned.has(connection.exchange)) {
      this.#unsupportedWarned.add(connection.exchange)
      this.#events.emit('warning', {
        code: 'UNSUPPORTED_EXCHANGE',
        exchange: connection.exchange,
        message:
          `Connections of exchange "${connection.exchange}" are stored, but no adapter syncs it: each is recorded ` +
          `as UNSUPPORTED_EXCHANGE. Add an adapter with id "${connection.exchange}" to the scheduler's exchanges.`,
      })
    }
    sweep.pending++
    sweep.report.attempted++
    void this.#runner.recordUnsupported(connection).then(() => this.#reader.settled(sweep, false))
    return true
  }

  /** An exchange paused beyond this interval: its sweep ends now, and the next one begins when the pause is over. */
  #pausedPastSweep(lane: Lane, now: number): boolean {
    return lane.blockedUntil > now + this.#options.intervalMs
  }

  #onBlocked(lane: Lane, until: number): void {
    const sweep = this.#sweeps.get(lane.exchange)
    const now = this.#options.clock.now()
    if (!sweep || until <= now + this.#options.intervalMs) return
    this.#reader.close(sweep)
    this.#dispatcher.drop(
      new SyncError('RATE_LIMITED', `${lane.exchange} is paused past this sweep.`, {
        retryAfterMs: until - now,
        scope: 'exchange',
      }),
      (job) => this.#entries.get(job.connection.id)?.sweep === sweep,
      [lane],
    )
  }

  // --- one sync -------------------------------------------------------------------------------------------

  #join(connectionId: string): Promise<SyncOutcome> | undefined {
    const entry = this.#entries.get(connectionId)
    if (!entry) return undefined
    if (!this.#running.has(connectionId)) {
      this.#dispatcher.promote(entry.lane, entry.job)
      this.#dispatcher.pump()
    }
    return entry.promise
  }

  #enqueue(
    lane: Lane,
    connection: Connection,
    trigger: Trigger,
    sweep: Sweep | null,
    urgent: boolean,
    waitUntil: number | undefined,
  ): Entry {
    let resolve!: (outcome: SyncOutcome) => void
    const promise = new Promise<SyncOutcome>((done) => {
      resolve = done
    })
    const adapter = this.#options.exchanges.get(lane.exchange) as ExchangeAdapter
    const entry: Entry = {
      job: dispatchJob(connection, this.#runner.accountOf(connection.id), waitUntil, {
        start: (permit) => this.#start(entry, permit),
        refuse: (error) => this.#settled(entry, failed(connection.id, error), false),
      }),
      lane,
      adapter,
      trigger,
      sweep,
      promise,
      resolve,
    }
    this.#entries.set(connection.id, entry)
    this.#dispatcher.enqueue(lane, entry.job, urgent)
    return entry
  }

  #start(entry: Entry, permit: LimitPermit): Promise<SyncError | undefined> {
    const { connection } = entry.job
    if (this.#unwarned.delete(entry.lane.exchange)) this.#warnFallback(entry.lane.exchange)
    if (entry.sweep) entry.sweep.report.attempted++
    const promise = this.#runner.run(entry.adapter, connection, entry.trigger, permit)
    this.#running.set(connection.id, promise)
    if (entry.sweep) this.#reader.refill(entry.sweep)
    return promise.then((outcome) => {
      this.#running.delete(connection.id)
      this.#settled(entry, outcome, true)
      return outcome.ok ? undefined : outcome.error
    })
  }

  #settled(entry: Entry, outcome: SyncOutcome, started: boolean): void {
    const { connection } = entry.job
    if (this.#entries.get(connection.id) === entry) this.#entries.delete(connection.id)
    const { sweep } = entry
    // Refused by the whole exchange's budget, the connection did nothing wrong: it goes again as soon as the
    // pause ends, in the same sweep, unless the pause outlasts it.
    if (
      started &&
      sweep &&
      !outcome.ok &&
      pausesExchange(outcome.error) &&
      !this.#lifecycle.stopping &&
      !sweep.finished
    ) {
      sweep.report.attempted--
      const retry = this.#enqueue(entry.lane, connection, 'sweep', sweep, true, undefined)
      void retry.promise.then(entry.resolve)
      return
    }
    entry.resolve(outcome)
    if (sweep) this.#reader.settled(sweep, started ? outcome.ok : undefined)
  }

  /** Writes what an operator needs to the host's logger; every message is already free of secrets. */
  #log(logger: SchedulerLogger): void {
    const events = this.#events
    events.on('warning', (warning) => logger.warn(warning.message, { code: warning.code, exchange: warning.exchange }))
    events.on('error', (error) => logger.error(error.message))
    events.on('ratelimit', (event) => {
      if (event.reason !== 'retry-after') return
      const what = event.scope === 'exchange' ? event.exchange : `an account of ${event.exchange}`
      logger.warn(`${what} is paused for ${Math.ceil(event.waitMs / 1000)} s at the exchange's request`, {
        exchange: event.exchange,
        scope: event.scope,
      })
    })
    events.on('connection:disabled', ({ connectionId, exchange, error }) => {
      logger.warn(
        `Connection ${connectionId} of ${exchange} is out of the schedule (${error.code}: ${error.message}); new keys bring it back`,
      )
    })
    events.on('sweep:end', (report) => {
      logger.debug(
        `Swept ${report.exchange}: ${report.attempted} attempted, ${report.succeeded} synced, ${report.failed} failed`,
      )
    })
  }

  #warnFallback(exchange: string): void {
    const { limit, windowMs } = this.#options.limits.get(exchange)?.budgets[0] ?? { limit: 0, windowMs: 0 }
    this.#events.emit('warning', {
      code: 'DEFAULT_LIMITS',
      exchange,
      message:
        `No rate limits are known for "${exchange}": syncing it at most ${limit} per ${windowMs / 1000} s for the ` +
        `whole exchange. Set limits.${exchange} to the exchange's published limits.`,
    })
  }
}

function failed(connectionId: string, error: SyncError): SyncOutcome {
  return { ok: false, connectionId, error }
}

function cancelled(connectionId: string, message: string): SyncOutcome {
  return failed(connectionId, new SyncError('CANCELLED', message))
}

function sum(reports: SweepReport[], field: 'attempted' | 'succeeded' | 'failed'): number {
  let total = 0
  for (const report of reports) total += report[field]
  return total
}
