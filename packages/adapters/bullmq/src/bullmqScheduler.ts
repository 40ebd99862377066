import {
  BudgetLimiter,
  type Connection,
  type Credentials,
  type DueCursor,
  type ExchangeAdapter,
  type Scheduler,
  type SchedulerHealth,
  type SchedulerStats,
  SyncError,
  type SyncLimiter,
  type SyncOutcome,
  type SyncSchedulerEvents,
  systemClock,
  type VerifyCredentialsResult,
} from '@syncfolio/core'
import {
  Dispatcher,
  dispatchJob,
  EventBus,
  exchangePaused,
  type Lane,
  Lifecycle,
  laneStats,
  pausesExchange,
  StoreCalls,
  SyncRunner,
  schedulerHealth,
  type Trigger,
  unsupportedExchange,
  verifyInLane,
} from '@syncfolio/core/runner'
import { DelayedError, Job, Queue, Worker } from 'bullmq'
import { Redis, type RedisOptions } from 'ioredis'
import { CLUSTER_EVENTS, type ClusterMessage, decodeMessage, encodeMessage } from './clusterEvents.js'
import { parseJobData, type SyncJobData } from './jobData.js'
import { SCAN_QUEUE, SCAN_SCHEDULER, syncJobId, syncQueueName } from './jobIds.js'
import { RedisLimiter } from './limiter/index.js'
import { type BullmqSchedulerOptions, type ResolvedBullmqOptions, resolveBullmqOptions } from './options.js'

/** What this process opened for one start: closed again by `stop()`. */
interface ClusterLink {
  readonly connection: Redis
  readonly subscriber: Redis
  readonly subscribed: Promise<unknown>
  /** Exchange -> its sync queue. */
  readonly queues: Map<string, Queue<SyncJobData>>
  readonly scanQueue: Queue
  readonly workers: Worker[]
  readonly limiter: SyncLimiter
}

/** The cluster's sync jobs as Redis counted them a moment ago: every process's, not only this one's. */
export interface ClusterJobCounts {
  /** When Redis answered (epoch ms). */
  at: number
  /** Jobs running on a worker somewhere. */
  inFlight: number
  /** Jobs ready to run, waiting for a worker. */
  queued: number
  /** Jobs waiting for their time: not due yet, or held back by a budget or a pause. */
  delayed: number
  exchanges: Record<string, { inFlight: number; queued: number; delayed: number }>
}

/** `stats()` of `BullmqScheduler`: the core's figures for this process, and the cluster's job counts. */
export interface BullmqSchedulerStats extends SchedulerStats {
  /** Refreshed in the background every few seconds while started; null before the first answer and once stopped. */
  cluster: ClusterJobCounts | null
}

/** A `syncNow` of this process waiting for the cluster to answer. */
interface Waiter {
  readonly promise: Promise<SyncOutcome>
  readonly resolve: (outcome: SyncOutcome) => void
  readonly timer: ReturnType<typeof setTimeout>
}

type ClusterPayload = Extract<ClusterMessage, { kind: 'event' }>['payload']

type Dispatched = { ran: true; outcome: SyncOutcome } | { ran: false; error: SyncError }

/** BullMQ priorities: lower goes first. Manual syncs and active users' connections before the schedule. */
const URGENT = 1
const SWEEP = 100

/** A sweep job that the limiter would keep waiting longer than this goes back to Redis as delayed. */
const SWEEP_WAIT_MS = 1_000

/** A sync job found the store failing: it runs again after this. */
const STORE_RETRY_MS = 1_000

/** Longest wait for Redis to take a close or a QUIT once the syncs are done. */
const CLOSE_MS = 2_000

/** Longest time between two counts of the cluster's jobs (shorter intervals count once an interval). */
const COUNTS_MS = 5_000

/** How many newly active users are remembered at once (each costs a `listByUser`). */
const MAX_ACTIVE_USERS = 10_000

/**
 * The syncfolio scheduler across processes and machines, on BullMQ and Redis: the same methods and events as
 * `SyncScheduler`. One due-scan per interval for the whole cluster (a BullMQ Job Scheduler), one job per connection
 * (deduplicated by its id, so at most one sync of a connection is in flight anywhere), budgets shared in Redis
 * (`RedisLimiter`), and every process re-emits the cluster's sync events. Each job runs through the core's
 * dispatcher and sync runner, so a sync here is exactly a sync of `SyncScheduler`.
 */
export class BullmqScheduler implements Scheduler {
  readonly #options: ResolvedBullmqOptions
  readonly #lifecycle = new Lifecycle()
  /** What this process's runner and dispatcher emit; cluster events leave through Redis from here. */
  readonly #local = new EventBus()
  /** What listeners of this scheduler receive: the cluster's events, and this process's warnings and errors. */
  readonly #events = new EventBus()
  readonly #storeCalls: StoreCalls
  readonly #runner: SyncRunner
  readonly #dispatcher: Dispatcher
  /** Budgets before `start()` (only `verifyCredentials` asks then): this process's own. */
  readonly #localLimiter: SyncLimiter
  #link: ClusterLink | null = null
  #stopping: Promise<void> | null = null
  /** `start()` was called while a stop drained: it starts again once the drain is over. */
  #startAfterStop = false
  readonly #waiters = new Map<string, Waiter>()
  /** User id -> until when their connections go first. */
  readonly #activeUsers = new Map<string, number>()
  /** Exchange -> end of the cluster's last scan of it, from `sweep:end` events. */
  readonly #lastSweepAt = new Map<string, number>()
  #scanning = 0
  #clusterCounts: ClusterJobCounts | null = null
  #countsTimer: ReturnType<typeof setTimeout> | undefined
  /** Messages on the channel that were not ours, since the last `error` event that said so. */
  #ignoredCount = 0
  #ignoredReportedAt = Number.NEGATIVE_INFINITY
  #startedAt: number | null = null
  #unwarned: Set<string>
  readonly #unsupportedWarned = new Set<string>()

  constructor(options: BullmqSchedulerOptions) {
    this.#options = resolveBullmqOptions(options)
    const { core } = this.#options
    this.#localLimiter = core.limiter ?? new BudgetLimiter(core.limits)
    const limiter: SyncLimiter = {
      acquire: (request) => this.#limiter.acquire(request),
      settle: (permit, settlement) => this.#limiter.settle(permit, settlement),
      stats: (exchange, now) => this.#limiter.stats(exchange, now),
    }
    this.#storeCalls = new StoreCalls(systemClock, core.storeTimeoutMs)
    this.#runner = new SyncRunner({
      store: core.store,
      storeCalls: this.#storeCalls,
      limiter,
      events: this.#local,
      lifecycle: this.#lifecycle,
      clock: systemClock,
      intervalMs: core.intervalMs,
      timeoutMs: core.timeoutMs,
      maxPauseMs: core.maxPauseMs,
      backoff: core.backoff,
      random: core.random,
    })
    this.#dispatcher = new Dispatcher({
      clock: systemClock,
      limiter,
      events: this.#local,
      concurrency: core.concurrency,
      lanes: [...core.exchanges.keys()].map((exchange) => ({
        exchange,
        concurrency: core.limits.get(exchange)?.concurrency ?? Number.POSITIVE_INFINITY,
      })),
      waitHorizons: { anyMs: Math.min(SWEEP_WAIT_MS, core.timeoutMs), hangingMs: core.timeoutMs },
    })
    this.#unwarned = new Set(core.fallbackExchanges)
    this.#forwardLocalEvents()
    if (core.logger) this.#log(core.logger)
  }

  get #limiter(): SyncLimiter {
    return this.#link?.limiter ?? this.#localLimiter
  }

  /** The ids of the exchanges this scheduler syncs (one per adapter). */
  get exchanges(): string[] {
    return [...this.#options.core.exchanges.keys()]
  }

  /** The id this process's sync events carry in `worker`. */
  get workerId(): string {
    return this.#options.workerId
  }

  /**
   * Connects to Redis and joins the cluster: listens for its events, and with role `all` or `worker` runs a BullMQ
   * worker per exchange and takes part in the due-scan (upserting its Job Scheduler, which is idempotent).
   * Idempotent; a stopped scheduler may start again, and one called while `stop()` drains starts once the drain
   * is over (unless `stop()` is called again before).
   */
  start(): void {
    if (this.#stopping) {
      // The drain owns the link until it ends; the last call wins (start, stop, start starts).
      this.#startAfterStop = true
      return
    }
    if (!this.#lifecycle.start()) return
    this.#startedAt = Date.now()
    this.#link = this.#open()
    this.#countLater(this.#link, 0)
  }

  /**
   * Stops this process only: takes no new job, hands the jobs it held but had not started back to the cluster,
   * waits for its syncs in flight and aborts those still running after `timeoutMs` (they end as `CANCELLED`,
   * unrecorded). Closes only the connections it opened. Calls that overlap share one drain; nothing starts after
   * it resolves. Other processes keep syncing.
   */
  stop({ timeoutMs = 30_000 }: { timeoutMs?: number } = {}): Promise<void> {
    this.#startAfterStop = false
    if (!this.#stopping) {
      this.#stopping = this.#drain(timeoutMs).finally(() => {
        this.#dispatcher.close()
        this.#lifecycle.endStop()
        this.#stopping = null
        if (this.#startAfterStop) {
          this.#startAfterStop = false
          this.start()
        }
      })
    }
    return this.#stopping
  }

  async #drain(timeoutMs: number): Promise<void> {
    const link = this.#link
    this.#lifecycle.beginStop()
    this.#startedAt = null
    clearTimeout(this.#countsTimer)
    this.#countsTimer = undefined
    this.#clusterCounts = null
    // Stop fetching first, then hand back what waits here: the processors put those jobs back as delayed-until-now.
    const closed = Promise.all((link?.workers ?? []).map((worker) => worker.close()))
    this.#dispatcher.drop(new SyncError('CANCELLED', 'This process stopped before the sync started.'))
    if (!(await within(closed, timeoutMs))) {
      this.#lifecycle.abortInFlight()
      this.#runner.abortAll(new SyncError('CANCELLED', 'The scheduler stopped before this sync finished.'))
      if (!(await within(closed, Math.max(timeoutMs, this.#options.core.storeTimeoutMs, 1_000)))) {
        this.#events.error(
          'stop() returned before the workers closed',
          new Error('a sync still waits for the store, or Redis does not answer'),
        )
      }
    }
    for (const [connectionId, waiter] of this.#waiters) {
      settleWaiter(this.#waiters, connectionId, waiter, cancelled(connectionId, 'The scheduler stopped.'))
    }
    if (!link) return
    this.#link = null
    // A Redis that went away must not hold stop() open: closing is bounded, then the sockets are simply dropped.
    const queues = [...link.queues.values(), link.scanQueue]
    await within(Promise.allSettled(queues.map((queue) => queue.close())), CLOSE_MS)
    await Promise.allSettled([quit(link.subscriber), quit(link.connection)])
  }

  /**
   * Syncs one connection on a worker of the cluster, ahead of the schedule, and resolves to its outcome; joins a
   * sync of the connection queued or in flight anywhere. Rejects only for an unknown connection. When a pause or a
   * budget would keep it waiting past `timeoutMs`, it resolves at once with `RATE_LIMITED`.
   */
  async syncNow(connectionId: string): Promise<SyncOutcome> {
    const joined = this.#waiters.get(connectionId)
    if (joined) return joined.promise
    const generation = this.#lifecycle.generation
    const { core } = this.#options
    let connection: Connection | null
    try {
      connection = await this.#storeCalls.run('store.get', () => core.store.get(connectionId))
    } catch (error) {
      this.#events.error(`store.get failed for connection ${connectionId}`, error)
      return failed(connectionId, new SyncError('UNKNOWN', 'Could not read the connection.'))
    }
    if (!connection) throw new SyncError('UNKNOWN', `Unknown connection "${connectionId}".`)
    const link = this.#link
    if (!link || !this.#lifecycle.mayStart(generation)) {
      return cancelled(connectionId, 'The scheduler is not started; call start() first.')
    }
    this.markActive(connection.userId)
    const rejoined = this.#waiters.get(connectionId)
    if (rejoined) return rejoined.promise
    if (connection.status === 'error') {
      const code = connection.lastError?.code ?? 'AUTH_FAILED'
      return failed(
        connectionId,
        new SyncError(code as SyncError['code'], 'Reconnect needed: the last sync was rejected.'),
      )
    }
    const queue = link.queues.get(connection.exchange)
    if (!queue) return failed(connectionId, unsupportedExchange(connection.exchange))
    const now = Date.now()
    const pausedUntil = this.#limiter.stats(connection.exchange, now).pausedUntil ?? 0
    if (pausedUntil > now + core.timeoutMs)
      return failed(connectionId, exchangePaused(connection.exchange, pausedUntil - now))
    const waiter = this.#wait(connectionId)
    this.#requestManual(link, queue, connection, now, waiter)
    return waiter.promise
  }

  /**
   * Queues a manual sync for `waiter`. Redis commands wait while Redis is away (BullMQ needs them to), so a Redis
   * that does not take the request within `timeoutMs` answers the waiter now; the request may still land later.
   */
  #requestManual(
    link: ClusterLink,
    queue: Queue<SyncJobData>,
    connection: Connection,
    now: number,
    waiter: Waiter,
  ): void {
    const { timeoutMs } = this.#options.core
    const connectionId = connection.id
    const giveUp = (message: string) =>
      settleWaiter(this.#waiters, connectionId, waiter, failed(connectionId, new SyncError('UNKNOWN', message)))
    // Events of this sync must not pass before this process listens.
    const requested = link.subscribed.then(() => this.#request(queue, connection, 'manual', now))
    requested.catch((error: unknown) => {
      this.#events.error(`Could not queue a sync of connection ${connectionId}`, error)
      giveUp('Could not queue the sync.')
    })
    void within(requested, timeoutMs).then((inTime) => {
      if (inTime || this.#waiters.get(connectionId) !== waiter) return
      this.#events.error(
        `Could not queue a sync of connection ${connectionId}`,
        new Error(`Redis did not answer within ${timeoutMs} ms`),
      )
      giveUp(`Redis did not take the sync request within ${timeoutMs} ms; try again later.`)
    })
  }

  /** The user is looking now: their due connections are queued first, on whichever worker takes them. */
  markActive(userId: string): void {
    const now = Date.now()
    if (this.#activeUsers.size > MAX_ACTIVE_USERS) {
      for (const [user, until] of this.#activeUsers) if (until <= now) this.#activeUsers.delete(user)
    }
    const wasActive = (this.#activeUsers.get(userId) ?? 0) > now
    this.#activeUsers.delete(userId)
    this.#activeUsers.set(userId, now + this.#options.core.activeForMs)
    const link = this.#link
    if (wasActive || !link) return
    void this.#queueUser(link, userId, now)
  }

  /**
   * Test-fetches keys that are not stored yet, in this process, through the same caps and budgets as syncs.
   * Records nothing; never rejects.
   */
  verifyCredentials(
    request: { connection: Connection; credentials: Credentials },
    { signal, timeoutMs = this.#options.core.timeoutMs }: { signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<VerifyCredentialsResult> {
    const parts = { dispatcher: this.#dispatcher, runner: this.#runner, clock: systemClock }
    const adapter = this.#options.core.exchanges.get(request.connection.exchange)
    return verifyInLane(parts, adapter, request, { signal, timeoutMs })
  }

  on<E extends keyof SyncSchedulerEvents>(event: E, listener: SyncSchedulerEvents[E]): this {
    this.#events.on(event, listener)
    return this
  }

  once<E extends keyof SyncSchedulerEvents>(event: E, listener: SyncSchedulerEvents[E]): this {
    this.#events.once(event, listener)
    return this
  }

  off<E extends keyof SyncSchedulerEvents>(event: E, listener?: SyncSchedulerEvents[E]): this {
    this.#events.off(event, listener)
    return this
  }

  /**
   * This process's syncs in flight and waiting, per exchange the shared budget and pause as this process last saw
   * them in Redis, and in `cluster` the jobs of every process as Redis last counted them. Synchronous: no Redis call.
   */
  stats(): BullmqSchedulerStats {
    const lanes = laneStats(this.#dispatcher, this.#limiter, Date.now())
    return { ...lanes, sweeping: this.#scanning > 0, cluster: this.#clusterCounts }
  }

  /**
   * As `SyncScheduler.health()`, with `lastSweepAt` the end of the cluster's last scan of the exchange (whichever
   * process ran it): not ok while the store's last call here failed, or when a started scheduler has seen no scan
   * end within two intervals.
   */
  health(): SchedulerHealth {
    return schedulerHealth({
      now: Date.now(),
      exchanges: this.stats().exchanges,
      lastSweepAt: this.#lastSweepAt,
      storeError: this.#storeCalls.lastError,
      startedAt: this.#startedAt,
      intervalMs: this.#options.core.intervalMs,
    })
  }

  // --- connections, queues, workers ---------------------------------------------------------------------

  #open(): ClusterLink {
    const { core, prefix, role, redis } = this.#options
    const connection = this.#connect(redis)
    const subscriber = connection.duplicate()
    subscriber.on('error', (error: Error) => this.#events.error('Redis (events subscriber)', error))
    subscriber.on('message', (_channel: string, text: string) => this.#received(text))
    const subscribed = subscriber.subscribe(this.#channel).catch((error: unknown) => {
      this.#events.error('Could not subscribe to the cluster events', error)
    })
    const queues = new Map<string, Queue<SyncJobData>>()
    for (const exchange of core.exchanges.keys()) {
      const queue = new Queue<SyncJobData>(syncQueueName(exchange), { connection, prefix })
      queue.on('error', (error: Error) => this.#events.error(`Queue of ${exchange}`, error))
      queues.set(exchange, queue)
    }
    const scanQueue = new Queue(SCAN_QUEUE, { connection, prefix })
    scanQueue.on('error', (error: Error) => this.#events.error('Scan queue', error))
    const limiter =
      core.limiter ??
      new RedisLimiter({
        redis: connection,
        prefix,
        egress: this.#options.egress,
        limits: core.limits,
        maxPauseMs: core.maxPauseMs,
        onError: (error) => this.#events.error('The Redis limiter', error),
      })
    const link: ClusterLink = { connection, subscriber, subscribed, queues, scanQueue, workers: [], limiter }
    if (role !== 'api') this.#startWorkers(link)
    return link
  }

  /** Our own connection: a duplicate of the host's instance, or a new one from its options; never the host's own. */
  #connect(redis: ResolvedBullmqOptions['redis']): Redis {
    const connection =
      redis instanceof Redis || typeof (redis as { duplicate?: unknown }).duplicate === 'function'
        ? (redis as Redis).duplicate({ maxRetriesPerRequest: null })
        : new Redis({ ...(redis as RedisOptions), maxRetriesPerRequest: null })
    connection.on('error', (error: Error) => this.#events.error('Redis', error))
    return connection
  }

  get #channel(): string {
    return `${this.#options.prefix}:events`
  }

  #startWorkers(link: ClusterLink): void {
    const { core, prefix, lockDurationMs, stalledIntervalMs } = this.#options
    const generation = this.#lifecycle.generation
    const common = {
      connection: link.connection,
      prefix,
      lockDuration: lockDurationMs,
      stalledInterval: stalledIntervalMs,
    }
    for (const [exchange, queue] of link.queues) {
      const cap = Math.min(core.concurrency, core.limits.get(exchange)?.concurrency ?? Number.POSITIVE_INFINITY)
      const worker = new Worker<SyncJobData>(queue.name, (job, token) => this.#process(queue, job, token, generation), {
        ...common,
        concurrency: cap,
        // A kill is noticed once the lock expired: the job runs again elsewhere, twice at most before it fails.
        maxStalledCount: 2,
      })
      worker.on('error', (error: Error) => this.#events.error(`Worker of ${exchange}`, error))
      link.workers.push(worker)
    }
    const scanner = new Worker(SCAN_QUEUE, (job) => this.#scan(link, job), { ...common, concurrency: 1 })
    scanner.on('error', (error: Error) => this.#events.error('Scan worker', error))
    link.workers.push(scanner)
    // On every (re)connect: a Redis that was down at start, or restarted without its keys, gets the Job Scheduler
    // again, or the cluster would never scan again. Upserting one that exists changes nothing.
    link.connection.on('ready', () => {
      if (this.#link !== link || !this.#lifecycle.started) return
      link.scanQueue
        .upsertJobScheduler(
          SCAN_SCHEDULER,
          { every: core.intervalMs },
          { name: 'scan', data: {}, opts: { removeOnComplete: true, removeOnFail: true } },
        )
        .catch((error: unknown) => this.#events.error('Could not set up the due-scan', error))
    })
  }

  /**
   * Adds the connection's job, or lifts the one already queued: a manual request promotes a delayed job, makes it
   * urgent and marks it manual (so it answers RATE_LIMITED rather than waiting long); a job already running is
   * joined as it is (its events answer the waiting `syncNow`).
   */
  async #request(queue: Queue<SyncJobData>, connection: Connection, trigger: Trigger, now: number): Promise<void> {
    const jobId = syncJobId(connection.id)
    const data: SyncJobData = { connectionId: connection.id, trigger, dueAt: now }
    if (trigger === 'manual') data.waitUntil = now + this.#options.core.timeoutMs
    await queue.add('sync', data, { jobId, priority: URGENT, removeOnComplete: true, removeOnFail: true })
    const job = await queue.getJob(jobId)
    if (!job || (job.data.dueAt === data.dueAt && job.data.trigger === trigger)) return
    // Another job of this connection was there first. Each step may race with a worker taking it; that is fine.
    const state = await job.getState()
    if (state === 'completed' || state === 'failed' || state === 'unknown') return
    if (state === 'active') {
      // Running on a worker: its events answer. Marked manual, a scan job that ends without a sync goes again.
      if (trigger === 'manual') {
        await ignoreRace(() => job.updateData({ ...job.data, trigger, waitUntil: data.waitUntil }))
      }
      return
    }
    await ignoreRace(async () => {
      if (trigger === 'manual') await job.updateData({ ...job.data, trigger, waitUntil: data.waitUntil })
      if (state === 'delayed') await job.promote()
      await job.changePriority({ priority: URGENT })
    })
  }

  /** Queues a newly active user's due connections urgent, and lets their later ones go first when they come due. */
  async #queueUser(link: ClusterLink, userId: string, now: number): Promise<void> {
    let connections: Connection[]
    try {
      connections = await this.#storeCalls.run('store.listByUser', () => this.#options.core.store.listByUser(userId))
    } catch (error) {
      this.#events.error('store.listByUser failed for a user', error)
      return
    }
    for (const connection of connections) {
      const queue = link.queues.get(connection.exchange)
      if (!queue || connection.status !== 'active' || this.#link !== link) continue
      try {
        if ((connection.nextSyncAt ?? 0) <= now) await this.#request(queue, connection, 'sweep', now)
        else {
          const job = await queue.getJob(syncJobId(connection.id))
          if (job) await ignoreRace(() => job.changePriority({ priority: URGENT }))
        }
      } catch (error) {
        this.#events.error(`Could not queue connection ${connection.id} of an active user`, error)
      }
    }
  }

  /**
   * Counts the cluster's jobs after `delayMs`, then again. The next count waits for the last answer, so a Redis
   * that is away holds one count, never a pile of them; the timer is unref'd and `stop()` clears it.
   */
  #countLater(link: ClusterLink, delayMs: number): void {
    const timer = setTimeout(() => {
      void this.#countJobs(link).then(() => {
        if (this.#link === link && this.#countsTimer === timer) {
          this.#countLater(link, Math.min(this.#options.core.intervalMs, COUNTS_MS))
        }
      })
    }, delayMs)
    timer.unref?.()
    this.#countsTimer = timer
  }

  async #countJobs(link: ClusterLink): Promise<void> {
    const counts: ClusterJobCounts = { at: 0, inFlight: 0, queued: 0, delayed: 0, exchanges: {} }
    try {
      for (const [exchange, queue] of link.queues) {
        const jobs = await queue.getJobCounts('active', 'wait', 'prioritized', 'delayed')
        const lane = {
          inFlight: jobs.active ?? 0,
          queued: (jobs.wait ?? 0) + (jobs.prioritized ?? 0),
          delayed: jobs.delayed ?? 0,
        }
        counts.exchanges[exchange] = lane
        counts.inFlight += lane.inFlight
        counts.queued += lane.queued
        counts.delayed += lane.delayed
      }
    } catch {
      // Redis is away: the last counts stay, with their `at` saying how old they are.
      return
    }
    counts.at = Date.now()
    if (this.#link === link && this.#lifecycle.started) this.#clusterCounts = counts
  }

  // --- the due-scan -------------------------------------------------------------------------------------

  /**
   * One scan for the whole cluster: pages each exchange's connections due before the next scan out of the store
   * and adds a job per connection, delayed until it is due (so starts spread over the interval). A connection
   * queued or running already keeps its one job. Scans never overlap: the Job Scheduler hands out the next scan
   * when one starts, so a scan that outlasts the interval would meet the next on another worker; that one yields.
   */
  async #scan(link: ClusterLink, job: Job): Promise<void> {
    if (await this.#olderScanRuns(link, job)) return
    this.#scanning++
    try {
      const startedAt = Date.now()
      await Promise.all(
        [...link.queues].map(([exchange, queue]) => this.#scanExchange(link, exchange, queue, startedAt)),
      )
      await this.#scanOrphans(startedAt)
    } finally {
      this.#scanning--
    }
  }

  /** True when an older scan is still running somewhere in the cluster (or Redis cannot say): this one yields. */
  async #olderScanRuns(link: ClusterLink, job: Job): Promise<boolean> {
    try {
      const active = await link.scanQueue.getActive()
      return active.some((other) => other.id !== job.id && isOlder(other, job))
    } catch (error) {
      this.#events.error('Could not see whether another scan runs; this one is skipped', error)
      return true
    }
  }

  async #scanExchange(
    link: ClusterLink,
    exchange: string,
    queue: Queue<SyncJobData>,
    startedAt: number,
  ): Promise<void> {
    const { store, pageSize, intervalMs } = this.#options.core
    const horizon = startedAt + intervalMs
    let after: DueCursor | undefined
    let queued = 0
    while (this.#lifecycle.started) {
      let page: Connection[]
      try {
        const options = after ? { exchange, after } : { exchange }
        page = await this.#storeCalls.run('store.listDue', () => store.listDue(horizon, pageSize, options))
      } catch (error) {
        this.#events.error(`store.listDue failed for ${exchange}`, error)
        break
      }
      const now = Date.now()
      const jobs = page
        .filter((connection) => connection.status === 'active')
        .map((connection) => {
          const dueAt = connection.nextSyncAt ?? startedAt
          const active = (this.#activeUsers.get(connection.userId) ?? 0) > now
          return {
            name: 'sync',
            data: { connectionId: connection.id, trigger: 'sweep', dueAt } satisfies SyncJobData,
            opts: {
              jobId: syncJobId(connection.id),
              priority: active ? URGENT : SWEEP,
              delay: Math.max(0, dueAt - now),
              removeOnComplete: true,
              removeOnFail: true,
            },
          }
        })
      try {
        if (jobs.length > 0) await queue.addBulk(jobs)
      } catch (error) {
        this.#events.error(`Could not queue the due connections of ${exchange}`, error)
        break
      }
      queued += jobs.length
      const last = page.at(-1)
      if (page.length < pageSize || !last) break
      after = { lastSyncAt: last.lastSyncAt, id: last.id }
    }
    this.#publish(link, {
      kind: 'event',
      name: 'sweep:end',
      // The scan queues; the syncs it queued report themselves as sync events, on whichever worker runs them.
      payload: { exchange, attempted: queued, succeeded: 0, failed: 0, startedAt, finishedAt: Date.now() },
    })
  }

  /**
   * Due connections of an exchange no adapter syncs are never skipped silently: each is recorded as an
   * `UNSUPPORTED_EXCHANGE` failure (transient: it syncs again once an adapter for it is configured), with one
   * `warning` per exchange.
   */
  async #scanOrphans(now: number): Promise<void> {
    const { store, pageSize, exchanges } = this.#options.core
    let after: DueCursor | undefined
    while (this.#lifecycle.started) {
      let page: Connection[]
      try {
        page = await this.#storeCalls.run('store.listDue', () => store.listDue(now, pageSize, after ? { after } : {}))
      } catch (error) {
        this.#events.error('store.listDue failed', error)
        return
      }
      for (const connection of page) {
        if (exchanges.has(connection.exchange)) continue
        if (!this.#unsupportedWarned.has(connection.exchange)) {
          this.#unsupportedWarned.add(connection.exchange)
          this.#events.emit('warning', {
            code: 'UNSUPPORTED_EXCHANGE',
            exchange: connection.exchange,
            message:
              `Connections of exchange "${connection.exchange}" are stored, but no adapter syncs it: each is ` +
              `recorded as UNSUPPORTED_EXCHANGE. Add an adapter with id "${connection.exchange}" to the scheduler's exchanges.`,
          })
        }
        await this.#runner.recordUnsupported(connection)
      }
      const last = page.at(-1)
      if (page.length < pageSize || !last) return
      after = { lastSyncAt: last.lastSyncAt, id: last.id }
    }
  }

  // --- one sync job -------------------------------------------------------------------------------------

  /**
   * Runs one job through this process's dispatcher and the core's runner. A sweep job that would wait long (a
   * pause, a budget) goes back to Redis as delayed until it may run, holding no slot; a manual one that would wait
   * past its deadline is answered RATE_LIMITED. A job this process can no longer start (it stops) goes back for
   * another worker.
   */
  async #process(
    queue: Queue<SyncJobData>,
    job: Job<SyncJobData>,
    token: string | undefined,
    generation: number,
  ): Promise<{ ran: boolean }> {
    let retryAt = await this.#handle(job, generation)
    if (retryAt === null) return { ran: true }
    if (job.data.trigger === 'sweep' && this.#lifecycle.mayStart(generation)) {
      retryAt = await this.#manualSince(queue, job, retryAt)
    }
    if (retryAt === undefined) return { ran: false }
    await job.moveToDelayed(retryAt, token)
    throw new DelayedError()
  }

  /**
   * A `syncNow` joined this scan job while it ran (it marked the job manual in Redis) and the job ends without a
   * sync: it goes again at once as the manual sync it now is, or, when it must wait past the request's deadline,
   * the request is answered RATE_LIMITED now. Either way the waiting `syncNow` gets an answer.
   */
  async #manualSince(
    queue: Queue<SyncJobData>,
    job: Job<SyncJobData>,
    retryAt: number | undefined,
  ): Promise<number | undefined> {
    let fresh: Job<SyncJobData> | undefined
    try {
      fresh = await Job.fromId<SyncJobData>(queue, job.id as string)
    } catch {
      return retryAt
    }
    const parsed = parseJobData(fresh?.data)
    if (!parsed.ok || parsed.data.trigger !== 'manual') return retryAt
    const now = Date.now()
    if (retryAt === undefined) return now
    const waitUntil = parsed.data.waitUntil ?? now
    if (retryAt > waitUntil) {
      const exchange = queue.name.slice(syncQueueName('').length)
      this.#publishRefusal(parsed.data.connectionId, exchangePaused(exchange, retryAt - now))
    }
    return retryAt
  }

  /** Null: it ran; undefined: it is done without running; a number: run it again from then. */
  async #handle(job: Job<SyncJobData>, generation: number): Promise<number | null | undefined> {
    const parsed = parseJobData(job.data)
    if (!parsed.ok) {
      // Not a job of ours: dropped (it is removed like any finished job), never run with garbage.
      this.#events.error(
        `Dropped job ${job.id} of ${job.queueName}`,
        new Error(`its data is not a sync job's: ${parsed.reason}`),
      )
      return undefined
    }
    const { connectionId, trigger, dueAt, waitUntil } = parsed.data
    const { core } = this.#options
    if (!this.#lifecycle.mayStart(generation)) return Date.now()
    let connection: Connection | null
    try {
      connection = await this.#storeCalls.run('store.get', () => core.store.get(connectionId))
    } catch (error) {
      this.#events.error(`store.get failed for connection ${connectionId}`, error)
      return Date.now() + STORE_RETRY_MS
    }
    if (!this.#lifecycle.mayStart(generation)) return Date.now()
    const refuse = (error: SyncError) => {
      if (trigger === 'manual') this.#publishRefusal(connectionId, error)
      return undefined
    }
    if (!connection) return refuse(new SyncError('CANCELLED', 'The connection was removed.'))
    if (trigger === 'sweep' && (connection.status !== 'active' || (connection.nextSyncAt ?? 0) > dueAt)) {
      // Synced (or rescheduled, or taken out) since the scan saw it: this job is spent.
      return undefined
    }
    if (connection.status === 'error') {
      const code = (connection.lastError?.code ?? 'AUTH_FAILED') as SyncError['code']
      return refuse(new SyncError(code, 'Reconnect needed: the last sync was rejected.'))
    }
    const lane = this.#dispatcher.lane(connection.exchange)
    const adapter = core.exchanges.get(connection.exchange)
    if (!lane || !adapter) return refuse(unsupportedExchange(connection.exchange))
    const now = Date.now()
    const deadline = trigger === 'manual' ? (waitUntil ?? now + core.timeoutMs) : now + SWEEP_WAIT_MS
    if (lane.blockedUntil > deadline) {
      if (trigger === 'sweep') return lane.blockedUntil
      return refuse(exchangePaused(connection.exchange, lane.blockedUntil - now))
    }
    const result = await this.#dispatch(lane, adapter, connection, trigger, deadline)
    if (result.ran) {
      const { outcome } = result
      // Refused by the whole exchange (its shared budget, a ban): nothing was recorded; it goes again after.
      if (trigger === 'sweep' && !outcome.ok && pausesExchange(outcome.error) && !this.#lifecycle.stopping) {
        return Date.now() + (outcome.error.retryAfterMs ?? SWEEP_WAIT_MS)
      }
      return null
    }
    const { error } = result
    if (error.code === 'CANCELLED') return Date.now()
    if (trigger === 'manual') return refuse(error)
    return Date.now() + (error.code === 'RATE_LIMITED' ? (error.retryAfterMs ?? SWEEP_WAIT_MS) : STORE_RETRY_MS)
  }

  #dispatch(
    lane: Lane,
    adapter: ExchangeAdapter,
    connection: Connection,
    trigger: Trigger,
    deadline: number,
  ): Promise<Dispatched> {
    return new Promise<Dispatched>((resolve) => {
      const job = dispatchJob(connection, this.#runner.accountOf(connection.id), deadline, {
        start: (permit) => {
          if (this.#unwarned.delete(lane.exchange)) this.#warnFallback(lane.exchange)
          return this.#runner.run(adapter, connection, trigger, permit).then((outcome) => {
            resolve({ ran: true, outcome })
            return outcome.ok ? undefined : outcome.error
          })
        },
        refuse: (error) => resolve({ ran: false, error }),
      })
      this.#dispatcher.enqueue(lane, job, trigger === 'manual')
      this.#dispatcher.pump()
    })
  }

  // --- events across the cluster ------------------------------------------------------------------------

  /** This process's cluster events go out through Redis (and come back to its own listeners from there, once). */
  #forwardLocalEvents(): void {
    const worker = this.#options.workerId
    for (const name of CLUSTER_EVENTS) {
      if (name === 'sweep:end') continue
      const forward = (payload: ClusterPayload) => {
        const event = payload as unknown as Record<string, unknown>
        if (name === 'ratelimit' && event.reason === 'budget') {
          // A wait for the budget is this process's own; only a pause the exchange asked for concerns everyone.
          this.#events.emit('ratelimit', payload as Parameters<SyncSchedulerEvents['ratelimit']>[0])
          return
        }
        const sent = name.startsWith('sync:') ? { ...event, worker } : event
        const link = this.#link
        if (link) this.#publish(link, { kind: 'event', name, payload: sent as unknown as ClusterPayload })
        else this.#events.emit(name, payload as never)
      }
      this.#local.on(name, forward as never)
    }
    this.#local.on('warning', (warning) => this.#events.emit('warning', warning))
    this.#local.on('error', (error) => this.#events.emit('error', error))
  }

  #publish(link: ClusterLink, message: ClusterMessage): void {
    link.connection.publish(this.#channel, encodeMessage(message)).catch((error: unknown) => {
      this.#events.error('Could not publish a cluster event', error)
    })
  }

  #publishRefusal(connectionId: string, error: SyncError): void {
    const link = this.#link
    if (link) this.#publish(link, { kind: 'refused', connectionId, error })
  }

  #received(text: string): void {
    try {
      const decoded = decodeMessage(text)
      if (decoded.ok) this.#take(decoded.message)
      else this.#ignored(decoded.reason)
    } catch (error) {
      // A listener of ours that throws must not reach ioredis's event loop.
      this.#events.error('A cluster event could not be handled', error)
    }
  }

  /** Says that the channel carries messages that are not ours: once, then at most once an interval. */
  #ignored(reason: string): void {
    const now = Date.now()
    this.#ignoredCount++
    if (now - this.#ignoredReportedAt < this.#options.core.intervalMs) return
    this.#ignoredReportedAt = now
    const count = this.#ignoredCount
    this.#ignoredCount = 0
    this.#events.error(
      `Ignored ${count} message(s) on ${this.#channel} that are not syncfolio cluster events (the last: ${reason.slice(0, 200)})`,
      new Error('another version, or another writer, publishes on this prefix'),
    )
  }

  #take(message: ClusterMessage): void {
    if (message.kind === 'refused') {
      this.#answer(message.connectionId, failed(message.connectionId, message.error))
      return
    }
    const { name, payload } = message
    if (name === 'sweep:end') {
      const report = payload as Parameters<SyncSchedulerEvents['sweep:end']>[0]
      // Only the exchanges this process knows: the map must not grow with whatever the channel names.
      if (this.#options.core.exchanges.has(report.exchange)) this.#lastSweepAt.set(report.exchange, report.finishedAt)
    } else if (name === 'sync:success') {
      const event = payload as Parameters<SyncSchedulerEvents['sync:success']>[0]
      this.#answer(event.connectionId, { ok: true, connectionId: event.connectionId, balances: event.balances })
    } else if (name === 'sync:failure') {
      const event = payload as Parameters<SyncSchedulerEvents['sync:failure']>[0]
      this.#answer(event.connectionId, failed(event.connectionId, event.error))
    }
    this.#events.emit(name, payload as never)
  }

  #wait(connectionId: string): Waiter {
    const { timeoutMs, storeTimeoutMs } = this.#options.core
    let resolve!: (outcome: SyncOutcome) => void
    const promise = new Promise<SyncOutcome>((done) => {
      resolve = done
    })
    // A manual sync waits at most timeoutMs to start and runs at most timeoutMs plus its store calls. Past that no
    // worker took it (none runs, or one died holding it): the caller gets an answer, the job still runs later.
    const limit = 2 * timeoutMs + 3 * storeTimeoutMs + this.#options.lockDurationMs
    const timer = setTimeout(() => {
      const waiter = this.#waiters.get(connectionId)
      if (waiter) {
        const error = new SyncError('TIMEOUT', `No worker finished this sync within ${limit} ms; it may still run.`)
        settleWaiter(this.#waiters, connectionId, waiter, failed(connectionId, error))
      }
    }, limit)
    timer.unref?.()
    const waiter: Waiter = { promise, resolve, timer }
    this.#waiters.set(connectionId, waiter)
    return waiter
  }

  #answer(connectionId: string, outcome: SyncOutcome): void {
    const waiter = this.#waiters.get(connectionId)
    if (waiter) settleWaiter(this.#waiters, connectionId, waiter, outcome)
  }

  #log(logger: NonNullable<ResolvedBullmqOptions['core']['logger']>): void {
    const events = this.#events
    events.on('warning', (warning) => logger.warn(warning.message, { code: warning.code, exchange: warning.exchange }))
    events.on('error', (error) => logger.error(error.message))
    events.on('connection:disabled', ({ connectionId, exchange, error }) => {
      logger.warn(
        `Connection ${connectionId} of ${exchange} is out of the schedule (${error.code}: ${error.message}); new keys bring it back`,
      )
    })
    events.on('sweep:end', (report) => logger.debug(`Scanned ${report.exchange}: ${report.attempted} queued`))
  }

  #warnFallback(exchange: string): void {
    const { limit, windowMs } = this.#options.core.limits.get(exchange)?.budgets[0] ?? { limit: 0, windowMs: 0 }
    this.#events.emit('warning', {
      code: 'DEFAULT_LIMITS',
      exchange,
      message:
        `No rate limits are known for "${exchange}": syncing it at most ${limit} per ${windowMs / 1000} s for the ` +
        `whole exchange. Set limits.${exchange} to the exchange's published limits.`,
    })
  }
}

function settleWaiter(waiters: Map<string, Waiter>, connectionId: string, waiter: Waiter, outcome: SyncOutcome): void {
  if (waiters.get(connectionId) === waiter) waiters.delete(connectionId)
  clearTimeout(waiter.timer)
  waiter.resolve(outcome)
}

/** True when `promise` settles (resolves or rejects) within `ms`; never rejects. */
function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, ms))
  })
  const settled = promise.then(
    () => true,
    () => true,
  )
  return Promise.race([settled, deadline]).finally(() => clearTimeout(timer))
}

/** Created first (the id breaks a tie): of two scans running at once, the older one goes on. */
function isOlder(job: Job, than: Job): boolean {
  if (job.timestamp !== than.timestamp) return job.timestamp < than.timestamp
  return String(job.id) < String(than.id)
}

/** A job that moved on (taken by a worker, finished) between two calls is not an error. */
async function ignoreRace(step: () => Promise<unknown>): Promise<void> {
  try {
    await step()
  } catch {
    // The job's state changed under us; whoever holds it now answers.
  }
}

async function quit(redis: Redis): Promise<void> {
  if (
    redis.status === 'ready' &&
    (await within(
      redis.quit().catch(() => undefined),
      CLOSE_MS,
    ))
  )
    return
  redis.disconnect()
}

function failed(connectionId: string, error: SyncError): SyncOutcome {
  return { ok: false, connectionId, error }
}

function cancelled(connectionId: string, message: string): SyncOutcome {
  return failed(connectionId, new SyncError('CANCELLED', message))
}
