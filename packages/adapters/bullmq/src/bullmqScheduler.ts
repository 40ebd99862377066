import {
  BudgetLimiter,
  type Connection,
  type Credentials,
  type DueCursor,
  type ExchangeAdapter,
  type LimitPermit,
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
  type DispatchJob,
  EventBus,
  type Lane,
  Lifecycle,
  pausesExchange,
  StoreCalls,
  SyncRunner,
  type Trigger,
} from '@syncfolio/core/runner'
import { DelayedError, type Job, Queue, Worker } from 'bullmq'
import { Redis, type RedisOptions } from 'ioredis'
import { CLUSTER_EVENTS, type ClusterMessage, decodeMessage, encodeMessage } from './clusterEvents.js'
import { SCAN_QUEUE, SCAN_SCHEDULER, syncJobId, syncQueueName } from './jobIds.js'
import { RedisLimiter } from './limiter/index.js'
import { type BullmqSchedulerOptions, type ResolvedBullmqOptions, resolveBullmqOptions } from './options.js'

/** What a sync job carries; the connection itself is read afresh when the job runs. */
interface SyncJobData {
  connectionId: string
  trigger: Trigger
  /** The `nextSyncAt` the scan saw (or when it was requested): a job whose connection moved past it is done. */
  dueAt: number
  /** Manual jobs: answered RATE_LIMITED at once when a pause or budget would keep them waiting past this. */
  waitUntil?: number
}

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
  readonly #waiters = new Map<string, Waiter>()
  /** User id -> until when their connections go first. */
  readonly #activeUsers = new Map<string, number>()
  /** Exchange -> end of the cluster's last scan of it, from `sweep:end` events. */
  readonly #lastSweepAt = new Map<string, number>()
  #scanning = 0
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
   * Idempotent; a stopped scheduler may start again.
   */
  start(): void {
    if (!this.#lifecycle.start()) return
    this.#startedAt = Date.now()
    this.#link = this.#open()
  }

  /**
   * Stops this process only: takes no new job, hands the jobs it held but had not started back to the cluster,
   * waits for its syncs in flight and aborts those still running after `timeoutMs` (they end as `CANCELLED`,
   * unrecorded). Closes only the connections it opened. Calls that overlap share one drain; nothing starts after
   * it resolves. Other processes keep syncing.
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
    const link = this.#link
    this.#lifecycle.beginStop()
    this.#startedAt = null
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
    if (!queue) return failed(connectionId, unsupported(connection.exchange))
    const now = Date.now()
    const pausedUntil = this.#limiter.stats(connection.exchange, now).pausedUntil ?? 0
    if (pausedUntil > now + core.timeoutMs)
      return failed(connectionId, pausedError(connection.exchange, pausedUntil - now))
    const waiter = this.#wait(connectionId)
    try {
      // Events of this sync must not pass before this process listens.
      await link.subscribed
      await this.#request(queue, connection, 'manual', now)
    } catch (error) {
      this.#events.error(`Could not queue a sync of connection ${connectionId}`, error)
      settleWaiter(
        this.#waiters,
        connectionId,
        waiter,
        failed(connectionId, new SyncError('UNKNOWN', 'Could not queue the sync.')),
      )
    }
    return waiter.promise
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
    const { connection, credentials } = request
    const adapter = this.#options.core.exchanges.get(connection.exchange)
    const lane = this.#dispatcher.lane(connection.exchange)
    if (!adapter || !lane) return Promise.resolve({ ok: false, error: unsupported(connection.exchange) })
    if (signal?.aborted) {
      return Promise.resolve({ ok: false, error: new SyncError('CANCELLED', 'The caller went away.') })
    }
    const deadline = Date.now() + timeoutMs
    return new Promise<VerifyCredentialsResult>((resolve) => {
      const onAbort = () => {
        this.#dispatcher.drop(new SyncError('CANCELLED', 'The caller went away.'), (queued) => queued === job, [lane])
      }
      const job = dispatchJob(connection, undefined, deadline, {
        start: async (permit: LimitPermit) => {
          const left = Math.max(1, deadline - Date.now())
          const result = await this.#runner.verify(adapter, connection, credentials, permit, {
            signal,
            timeoutMs: left,
          })
          signal?.removeEventListener('abort', onAbort)
          resolve(result)
          return result.ok ? undefined : result.error
        },
        refuse: (error) => {
          signal?.removeEventListener('abort', onAbort)
          resolve({ ok: false, error })
        },
      })
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#dispatcher.enqueue(lane, job, true)
      this.#dispatcher.pump()
    })
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
   * This process's syncs in flight and waiting, and per exchange the shared budget and pause as this process last
   * saw them in Redis. Synchronous: no Redis call.
   */
  stats(): SchedulerStats {
    const now = Date.now()
    const exchanges: SchedulerStats['exchanges'] = {}
    let queued = 0
    for (const lane of this.#dispatcher.lanes) {
      const limits = this.#limiter.stats(lane.exchange, now)
      const pausedUntil = Math.max(limits.pausedUntil ?? 0, lane.blockedUntil)
      const laneQueued = lane.urgent.length + lane.queue.length
      queued += laneQueued
      exchanges[lane.exchange] = {
        inFlight: lane.inFlight,
        queued: laneQueued,
        budgetLeft: limits.budgetLeft,
        pausedUntil: pausedUntil > now ? pausedUntil : null,
        pausedAccounts: limits.pausedAccounts,
      }
    }
    return { inFlight: this.#dispatcher.running, queued, sweeping: this.#scanning > 0, exchanges }
  }

  /**
   * As `SyncScheduler.health()`, with `lastSweepAt` the end of the cluster's last scan of the exchange (whichever
   * process ran it): not ok while the store's last call here failed, or when a started scheduler has seen no scan
   * end within two intervals.
   */
  health(): SchedulerHealth {
    const now = Date.now()
    const exchanges: SchedulerHealth['exchanges'] = {}
    let lastSweep = Number.NEGATIVE_INFINITY
    for (const [id, lane] of Object.entries(this.stats().exchanges)) {
      const lastSweepAt = this.#lastSweepAt.get(id) ?? null
      if (lastSweepAt !== null) lastSweep = Math.max(lastSweep, lastSweepAt)
      const { pausedUntil, budgetLeft, inFlight, queued } = lane
      exchanges[id] = { lastSweepAt, pausedUntil, budgetLeft, inFlight, queued }
    }
    const lastError = this.#storeCalls.lastError
    const since = Math.max(lastSweep, this.#startedAt ?? Number.POSITIVE_INFINITY)
    const stalled = this.#startedAt !== null && now - since > 2 * this.#options.core.intervalMs
    return { ok: lastError === null && !stalled, exchanges, store: { ok: lastError === null, lastError } }
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
      const worker = new Worker<SyncJobData>(queue.name, (job, token) => this.#process(job, token, generation), {
        ...common,
        concurrency: cap,
        // A kill is noticed once the lock expired: the job runs again elsewhere, twice at most before it fails.
        maxStalledCount: 2,
      })
      worker.on('error', (error: Error) => this.#events.error(`Worker of ${exchange}`, error))
      link.workers.push(worker)
    }
    const scanner = new Worker(SCAN_QUEUE, () => this.#scan(link), { ...common, concurrency: 1 })
    scanner.on('error', (error: Error) => this.#events.error('Scan worker', error))
    link.workers.push(scanner)
    link.scanQueue
      .upsertJobScheduler(
        SCAN_SCHEDULER,
        { every: core.intervalMs },
        { name: 'scan', data: {}, opts: { removeOnComplete: true, removeOnFail: true } },
      )
      .catch((error: unknown) => this.#events.error('Could not set up the due-scan', error))
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
    if (state === 'active' || state === 'completed' || state === 'failed' || state === 'unknown') return
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

  // --- the due-scan -------------------------------------------------------------------------------------

  /**
   * One scan for the whole cluster: pages each exchange's connections due before the next scan out of the store
   * and adds a job per connection, delayed until it is due (so starts spread over the interval). A connection
   * queued or running already keeps its one job.
   */
  async #scan(link: ClusterLink): Promise<void> {
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
  async #process(job: Job<SyncJobData>, token: string | undefined, generation: number): Promise<{ ran: boolean }> {
    const retryAt = await this.#handle(job, generation)
    if (retryAt === null) return { ran: true }
    if (retryAt === undefined) return { ran: false }
    await job.moveToDelayed(retryAt, token)
    throw new DelayedError()
  }

  /** Null: it ran; undefined: it is done without running; a number: run it again from then. */
  async #handle(job: Job<SyncJobData>, generation: number): Promise<number | null | undefined> {
    const { connectionId, trigger, dueAt, waitUntil } = job.data
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
    if (!lane || !adapter) return refuse(unsupported(connection.exchange))
    const now = Date.now()
    const deadline = trigger === 'manual' ? (waitUntil ?? now + core.timeoutMs) : now + SWEEP_WAIT_MS
    if (lane.blockedUntil > deadline) {
      if (trigger === 'sweep') return lane.blockedUntil
      return refuse(pausedError(connection.exchange, lane.blockedUntil - now))
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
    const message = decodeMessage(text)
    if (!message) return
    if (message.kind === 'refused') {
      this.#answer(message.connectionId, failed(message.connectionId, message.error))
      return
    }
    const { name, payload } = message
    if (name === 'sweep:end') {
      const report = payload as Parameters<SyncSchedulerEvents['sweep:end']>[0]
      this.#lastSweepAt.set(report.exchange, report.finishedAt)
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

function dispatchJob(
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

function settleWaiter(waiters: Map<string, Waiter>, connectionId: string, waiter: Waiter, outcome: SyncOutcome): void {
  if (waiters.get(connectionId) === waiter) waiters.delete(connectionId)
  clearTimeout(waiter.timer)
  waiter.resolve(outcome)
}

/** True when `promise` settles within `ms`. */
function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, ms))
  })
  return Promise.race([promise.then(() => true), deadline]).finally(() => clearTimeout(timer))
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

function unsupported(exchange: string): SyncError {
  return new SyncError('UNSUPPORTED_EXCHANGE', `No adapter syncs exchange "${exchange}".`)
}

function pausedError(exchange: string, waitMs: number): SyncError {
  return new SyncError('RATE_LIMITED', `${exchange} is paused; try again in ${Math.ceil(waitMs / 1000)} s.`, {
    retryAfterMs: waitMs,
    scope: 'exchange',
  })
}
