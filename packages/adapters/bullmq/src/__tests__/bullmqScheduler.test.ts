import { createServer, type Server, Socket } from 'node:net'
import {
  type Connection,
  createSyncHandler,
  type ExchangeAdapter,
  type FetchBalancesRequest,
  type FetchBalancesResult,
  InvalidOptionError,
  MemoryStore,
  type Scheduler,
  SyncError,
  type SyncHandlerScheduler,
  type SyncSchedulerEvents,
} from '@syncfolio/core'
import { deferred } from '@syncfolio/testing'
import { type RedisServer, startRedis } from '@syncfolio/testing/services'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, expectTypeOf, it } from 'vitest'
import { BullmqScheduler, type BullmqSchedulerOptions } from '../index.js'

const KEYS = { apiKey: 'AK-cluster-7f3e2d1c', secret: 'SK-cluster-0a9b8c7d' }
const BTC = [{ asset: 'BTC', free: '1', used: '0', total: '1' }]

let server: RedisServer
let prefixes = 0
const running: BullmqScheduler[] = []
const clients: Redis[] = []

beforeAll(async () => {
  // Throws (never skips) without a redis-server: the cluster's semantics are only proven against a real one.
  server = await startRedis()
})
afterEach(async () => {
  await Promise.all(running.splice(0).map((scheduler) => scheduler.stop({ timeoutMs: 2_000 })))
  for (const client of clients.splice(0)) client.disconnect()
})
afterAll(async () => {
  await server?.stop()
})

/** One "process" of a cluster: its own connections to the one Redis. */
function processOf(options: Partial<BullmqSchedulerOptions> & Pick<BullmqSchedulerOptions, 'store' | 'exchanges'>) {
  const scheduler = new BullmqScheduler({
    redis: { host: server.host, port: server.port },
    intervalMs: 60_000,
    timeoutMs: 5_000,
    limits: { binance: { budgets: [] }, okx: { budgets: [] } },
    ...options,
  })
  running.push(scheduler)
  return scheduler
}

function newPrefix(): string {
  return `test${++prefixes}-${process.pid}`
}

/** Counts calls per connection across every process of the test, and the most of one connection at once. */
function clusterAdapter(
  id: string,
  handler: (request: FetchBalancesRequest) => Promise<FetchBalancesResult> | FetchBalancesResult = () => ({
    balances: BTC,
  }),
) {
  const inFlight = new Map<string, number>()
  const calls: Array<{ connectionId: string; by: string }> = []
  let maxPerConnection = 0
  const forProcess = (by: string): ExchangeAdapter => ({
    id,
    async fetchBalances(request) {
      const connectionId = request.connection.id
      calls.push({ connectionId, by })
      const now = (inFlight.get(connectionId) ?? 0) + 1
      inFlight.set(connectionId, now)
      maxPerConnection = Math.max(maxPerConnection, now)
      try {
        return await handler(request)
      } finally {
        inFlight.set(connectionId, (inFlight.get(connectionId) ?? 1) - 1)
      }
    },
  })
  return {
    forProcess,
    calls,
    get maxPerConnection() {
      return maxPerConnection
    },
    callsOf: (connectionId: string) => calls.filter((call) => call.connectionId === connectionId).length,
  }
}

/** A connection that is not due for an hour, so no scan touches it during a test. */
async function notDue(store: MemoryStore, userId = 'alice', exchange = 'binance'): Promise<Connection> {
  const connection = await store.add({ userId, exchange, credentials: KEYS })
  const now = Date.now()
  await store.recordSuccess(connection.id, {
    balances: [],
    startedAt: now - 1,
    finishedAt: now,
    nextSyncAt: now + 3_600_000,
  })
  return connection
}

/** A TCP proxy to the test's Redis; `cut()` drops every socket and refuses new ones, as a killed process would. */
async function redisProxy() {
  const sockets: Socket[] = []
  let open = true
  const proxy: Server = createServer((socket) => {
    if (!open) return socket.destroy()
    const upstream = new Socket()
    upstream.connect(server.port, server.host)
    socket.pipe(upstream).pipe(socket)
    socket.on('error', () => upstream.destroy())
    upstream.on('error', () => socket.destroy())
    sockets.push(socket, upstream)
  })
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
  return {
    port: (proxy.address() as { port: number }).port,
    cut() {
      open = false
      for (const socket of sockets) socket.destroy()
    },
    close: () => new Promise((resolve) => proxy.close(resolve)),
  }
}

async function until(test: () => boolean, what: string): Promise<void> {
  for (let round = 0; !test(); round++) {
    if (round > 2_000) throw new Error(`Still waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

function collect<E extends keyof SyncSchedulerEvents>(scheduler: BullmqScheduler, event: E) {
  const seen: Array<Parameters<SyncSchedulerEvents[E]>[0]> = []
  scheduler.on(event, ((payload: Parameters<SyncSchedulerEvents[E]>[0]) => seen.push(payload)) as never)
  return seen
}

describe('BullmqScheduler', () => {
  it('runs the due-scan once per interval for the whole cluster, however many processes start, stop or restart', async () => {
    const prefix = newPrefix()
    const store = new MemoryStore()
    for (let index = 0; index < 5; index++)
      await store.add({ userId: `u${index}`, exchange: 'binance', credentials: KEYS })
    const adapter = clusterAdapter('binance')
    const intervalMs = 400
    const observer = processOf({ prefix, store, exchanges: [adapter.forProcess('api')], role: 'api', intervalMs })
    const scans = collect(observer, 'sweep:end')
    observer.start()
    const startedAt = Date.now()
    const workers = ['a', 'b', 'c'].map((name) =>
      processOf({ prefix, store, exchanges: [adapter.forProcess(name)], role: 'worker', intervalMs, workerId: name }),
    )
    for (const worker of workers) worker.start()
    await until(() => scans.length >= 3, 'three scans')
    // One process leaves and comes back (a restart is a new process), another one joins.
    await workers[1]?.stop()
    processOf({
      prefix,
      store,
      exchanges: [adapter.forProcess('b2')],
      role: 'worker',
      intervalMs,
      workerId: 'b2',
    }).start()
    await until(() => scans.length >= 7, 'seven scans')
    const elapsed = Date.now() - startedAt
    // Four processes scanning on their own would have scanned about four times per interval.
    expect(scans.length).toBeLessThanOrEqual(Math.floor(elapsed / intervalMs) + 2)
    expect(scans.every((scan) => scan.exchange === 'binance')).toBe(true)
    // The scans' connections were synced, each once per scan at most.
    await until(() => adapter.calls.length >= 5, 'the first syncs')
    expect(adapter.maxPerConnection).toBe(1)
  })

  it('runs at most one sync of a connection anywhere, with syncNow from every process racing the scans', async () => {
    const prefix = newPrefix()
    const store = new MemoryStore()
    const connections: Connection[] = []
    for (let index = 0; index < 12; index++) {
      connections.push(await store.add({ userId: `u${index % 3}`, exchange: 'binance', credentials: KEYS }))
    }
    const adapter = clusterAdapter('binance', async () => {
      await new Promise((resolve) => setTimeout(resolve, 15))
      return { balances: BTC }
    })
    const processes = ['a', 'b', 'c'].map((name) =>
      processOf({ prefix, store, exchanges: [adapter.forProcess(name)], intervalMs: 300, workerId: name }),
    )
    for (const process of processes) process.start()
    const outcomes = await Promise.all(
      [0, 1, 2].flatMap((round) =>
        connections.map((connection, index) =>
          (processes[(index + round) % processes.length] as BullmqScheduler).syncNow(connection.id),
        ),
      ),
    )
    expect(outcomes.every((outcome) => outcome.ok)).toBe(true)
    await until(() => new Set(adapter.calls.map((call) => call.by)).size >= 2, 'syncs on two processes')
    expect(adapter.maxPerConnection).toBe(1)
  })

  it('runs syncNow of an api process on a worker, resolving with the outcome, and joins a sync in flight', async () => {
    const prefix = newPrefix()
    const store = new MemoryStore()
    const connection = await notDue(store)
    const gate = deferred<void>()
    const adapter = clusterAdapter('binance', async () => {
      await gate.promise
      return { balances: BTC }
    })
    const api = processOf({ prefix, store, exchanges: [adapter.forProcess('api')], role: 'api' })
    const otherApi = processOf({ prefix, store, exchanges: [adapter.forProcess('api2')], role: 'api' })
    const worker = processOf({
      prefix,
      store,
      exchanges: [adapter.forProcess('worker')],
      role: 'worker',
      workerId: 'w1',
    })
    for (const process of [api, otherApi, worker]) process.start()

    const first = api.syncNow(connection.id)
    await until(() => adapter.calls.length === 1, 'the sync to start')
    const joined = [otherApi.syncNow(connection.id), api.syncNow(connection.id), worker.syncNow(connection.id)]
    await new Promise((resolve) => setTimeout(resolve, 100))
    gate.resolve()
    const outcomes = await Promise.all([first, ...joined])
    for (const outcome of outcomes) expect(outcome).toEqual({ ok: true, connectionId: connection.id, balances: BTC })
    expect(adapter.calls).toEqual([{ connectionId: connection.id, by: 'worker' }])
    expect((await store.get(connection.id))?.lastSyncAt).toBeGreaterThan(0)
    await expect(api.syncNow('no-such-connection')).rejects.toThrow('Unknown connection "no-such-connection"')
  })

  it("resolves a failed sync's outcome on the api process, with the SyncError rebuilt", async () => {
    const prefix = newPrefix()
    const store = new MemoryStore()
    const connection = await notDue(store)
    const adapter = clusterAdapter('binance', () => {
      throw new SyncError('EXCHANGE_UNAVAILABLE', 'binance is down for maintenance')
    })
    const api = processOf({ prefix, store, exchanges: [adapter.forProcess('api')], role: 'api' })
    processOf({ prefix, store, exchanges: [adapter.forProcess('worker')], role: 'worker' }).start()
    api.start()
    const outcome = await api.syncNow(connection.id)
    expect(outcome.ok).toBe(false)
    if (outcome.ok) return
    expect(outcome.error).toBeInstanceOf(SyncError)
    expect(outcome.error.code).toBe('EXCHANGE_UNAVAILABLE')
    expect((await store.get(connection.id))?.failureCount).toBe(1)
  })

  it("delivers the workers' sync events to an api process's listeners and its SSE stream, with worker set", async () => {
    const prefix = newPrefix()
    const store = new MemoryStore()
    const connection = await notDue(store)
    const adapter = clusterAdapter('binance')
    const api = processOf({ prefix, store, exchanges: [adapter.forProcess('api')], role: 'api', workerId: 'api-1' })
    const worker = processOf({ prefix, store, exchanges: [adapter.forProcess('w')], role: 'worker', workerId: 'w-7' })
    const successes = collect(api, 'sync:success')
    const starts = collect(api, 'sync:start')
    const onWorker = collect(worker, 'sync:success')
    api.start()
    worker.start()
    const handler = createSyncHandler({
      scheduler: api,
      store,
      resolveUser: (request) => request.headers.get('x-user'),
    })
    const controller = new AbortController()
    const response = await handler(
      new Request('http://api.test/events', { headers: { 'x-user': 'alice' }, signal: controller.signal }),
    )
    expect(response.headers.get('Content-Type')).toBe('text/event-stream; charset=utf-8')
    const reader = (response.body as ReadableStream<Uint8Array>).getReader()
    let text = ''
    const reading = (async () => {
      const decoder = new TextDecoder()
      for (;;) {
        const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }))
        if (done) break
        text += decoder.decode(value, { stream: true })
      }
    })()

    const list = await handler(new Request('http://api.test/connections', { headers: { 'x-user': 'alice' } }))
    expect(list.status).toBe(200)
    expect(await api.syncNow(connection.id)).toMatchObject({ ok: true })
    await until(() => text.includes('event: sync:success'), 'the SSE event')
    controller.abort()
    await reading
    // Each process re-emits each event once, its own syncs included.
    expect(successes).toHaveLength(1)
    expect(onWorker).toHaveLength(1)
    expect(successes[0]).toMatchObject({ connectionId: connection.id, worker: 'w-7', trigger: 'manual', balances: BTC })
    expect(starts[0]).toMatchObject({ connectionId: connection.id, worker: 'w-7' })
    const events = [...text.matchAll(/^event: (.+)\ndata: (.+)\n\n/gm)].map(([, type, data]) => ({
      type,
      data: JSON.parse(data as string),
    }))
    expect(events.map((event) => event.type)).toEqual(['sync:start', 'sync:success'])
    expect(events[0]?.data).toMatchObject({ connectionId: connection.id, worker: 'w-7' })
    expect(text).not.toContain(KEYS.secret)
  })

  it('stop() drains this process, starts nothing after it resolves, and the others keep syncing', async () => {
    const prefix = newPrefix()
    const store = new MemoryStore()
    const held = await notDue(store)
    const later = await notDue(store)
    const gate = deferred<void>()
    const adapter = clusterAdapter('binance', async ({ connection }) => {
      if (connection.id === held.id) await gate.promise
      return { balances: BTC }
    })
    const api = processOf({ prefix, store, exchanges: [adapter.forProcess('api')], role: 'api' })
    const first = processOf({ prefix, store, exchanges: [adapter.forProcess('first')], role: 'worker' })
    api.start()
    first.start()
    const outcome = api.syncNow(held.id)
    await until(() => adapter.calls.length === 1, 'the held sync to start')
    const second = processOf({ prefix, store, exchanges: [adapter.forProcess('second')], role: 'worker' })
    second.start()

    let stopped = false
    const stopping = first.stop({ timeoutMs: 10_000 }).then(() => {
      stopped = true
    })
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(stopped).toBe(false)
    gate.resolve()
    await stopping
    expect(await outcome).toMatchObject({ ok: true })
    const callsAtStop = adapter.calls.filter((call) => call.by === 'first').length

    expect(await api.syncNow(later.id)).toMatchObject({ ok: true })
    expect(await api.syncNow(held.id)).toMatchObject({ ok: true })
    expect(adapter.calls.filter((call) => call.by === 'first')).toHaveLength(callsAtStop)
    expect(adapter.calls.slice(-2).map((call) => call.by)).toEqual(['second', 'second'])
    // Overlapping stops share one drain; a stopped process answers syncNow without queueing.
    const again = [second.stop(), second.stop()]
    expect(again[0]).toBe(again[1])
    await Promise.all(again)
    expect(await second.syncNow(later.id)).toMatchObject({ ok: false, error: { code: 'CANCELLED' } })
  })

  it('hands the jobs a stopping process held but had not started back to the cluster', async () => {
    const prefix = newPrefix()
    const store = new MemoryStore()
    const slow = await notDue(store, 'alice', 'binance')
    const waiting = await notDue(store, 'bob', 'okx')
    const gate = deferred<void>()
    const binance = clusterAdapter('binance', async () => {
      await gate.promise
      return { balances: BTC }
    })
    const okx = clusterAdapter('okx')
    // One slot for two exchanges: the okx job waits in this process while the binance sync holds the slot.
    const first = processOf({
      prefix,
      store,
      exchanges: [binance.forProcess('first'), okx.forProcess('first')],
      role: 'worker',
      concurrency: 1,
    })
    const api = processOf({ prefix, store, exchanges: [binance.forProcess('api'), okx.forProcess('api')], role: 'api' })
    first.start()
    api.start()
    const slowOutcome = api.syncNow(slow.id)
    await until(() => binance.calls.length === 1, 'the binance sync to start')
    const waitingOutcome = api.syncNow(waiting.id)
    await until(() => first.stats().queued === 1, 'the okx job to wait for the slot')
    const stopping = first.stop({ timeoutMs: 10_000 })
    processOf({
      prefix,
      store,
      exchanges: [binance.forProcess('second'), okx.forProcess('second')],
      role: 'worker',
    }).start()
    expect(await waitingOutcome).toMatchObject({ ok: true, connectionId: waiting.id })
    expect(okx.calls).toEqual([{ connectionId: waiting.id, by: 'second' }])
    gate.resolve()
    await stopping
    expect(await slowOutcome).toMatchObject({ ok: true, connectionId: slow.id })
    expect(binance.calls.map((call) => call.by)).toEqual(['first'])
  })

  it('pauses the exchange for every worker once one of them is told Retry-After', async () => {
    const prefix = newPrefix()
    const store = new MemoryStore()
    const banned = await notDue(store, 'alice')
    const other = await notDue(store, 'bob')
    const adapter = clusterAdapter('binance', ({ connection }) => {
      if (connection.id === banned.id) {
        throw new SyncError('RATE_LIMITED', 'Too many requests', { retryAfterMs: 60_000, scope: 'exchange' })
      }
      return { balances: BTC }
    })
    // Real budgets in Redis (the default RedisLimiter) for this test.
    const limits = { binance: { cost: 20, budgets: [{ scope: 'exchange' as const, limit: 6_000, windowMs: 60_000 }] } }
    const api = processOf({
      prefix,
      store,
      exchanges: [adapter.forProcess('api')],
      role: 'api',
      limits,
      timeoutMs: 2_000,
    })
    const first = processOf({ prefix, store, exchanges: [adapter.forProcess('first')], role: 'worker', limits })
    api.start()
    first.start()
    const refused = await api.syncNow(banned.id)
    expect(refused).toMatchObject({ ok: false, error: { code: 'RATE_LIMITED', scope: 'exchange' } })

    // The worker that was told leaves; another one, which never saw the 429, takes over.
    await first.stop()
    const second = processOf({ prefix, store, exchanges: [adapter.forProcess('second')], role: 'worker', limits })
    second.start()
    const outcome = await api.syncNow(other.id)
    expect(outcome).toMatchObject({ ok: false, error: { code: 'RATE_LIMITED', scope: 'exchange' } })
    if (outcome.ok) return
    expect(outcome.error.retryAfterMs).toBeGreaterThan(50_000)
    expect(adapter.callsOf(other.id)).toBe(0)
    // Nothing was recorded against either connection: a shared pause is nobody's fault.
    expect((await store.get(banned.id))?.failureCount).toBe(0)
  })

  it('markActive queues the due connections of the user at once, on a worker', async () => {
    const prefix = newPrefix()
    const store = new MemoryStore()
    const adapter = clusterAdapter('binance')
    const worker = processOf({ prefix, store, exchanges: [adapter.forProcess('w')], role: 'worker' })
    const api = processOf({ prefix, store, exchanges: [adapter.forProcess('api')], role: 'api' })
    worker.start()
    api.start()
    // Added after the first scan: without markActive it would wait for the next one, an interval away.
    await until(() => worker.stats().sweeping === false && adapter.calls.length === 0, 'the first scan')
    await new Promise((resolve) => setTimeout(resolve, 200))
    const fresh = await store.add({ userId: 'carol', exchange: 'binance', credentials: KEYS })
    const synced = collect(api, 'sync:success')
    api.markActive('carol')
    await until(() => synced.length === 1, 'the active user to be synced')
    expect(synced[0]).toMatchObject({ connectionId: fresh.id, worker: expect.any(String) })
  })

  it('is a Scheduler that the HTTP handler takes, and answers health() and stats() synchronously', async () => {
    const store = new MemoryStore()
    const scheduler = processOf({ prefix: newPrefix(), store, exchanges: [clusterAdapter('binance').forProcess('x')] })
    expectTypeOf(scheduler).toMatchTypeOf<Scheduler>()
    expectTypeOf(scheduler).toMatchTypeOf<SyncHandlerScheduler>()
    expect(scheduler.exchanges).toEqual(['binance'])
    const sweeps = collect(scheduler, 'sweep:end')
    scheduler.start()
    await until(() => sweeps.length >= 1, 'the first scan')
    const health = scheduler.health()
    expect(health.ok).toBe(true)
    expect(health.exchanges.binance?.lastSweepAt).toBe(sweeps[0]?.finishedAt)
    expect(scheduler.stats()).toMatchObject({ inFlight: 0, queued: 0, exchanges: { binance: { inFlight: 0 } } })
  })

  it("runs a killed worker's job again on another worker once its lock expired", async () => {
    const prefix = newPrefix()
    const store = new MemoryStore()
    const connection = await notDue(store)
    const never = deferred<FetchBalancesResult>()
    const adapter = clusterAdapter('binance', ({ connection: { id } }) =>
      calledBy(id) === 1 ? never.promise : { balances: BTC },
    )
    const calledBy = (id: string) => adapter.callsOf(id)
    // The doomed worker reaches Redis through a proxy; cutting it is a kill as far as Redis can tell.
    const proxy = await redisProxy()
    const lock = { lockDurationMs: 1_000, stalledIntervalMs: 500 }
    const doomed = processOf({
      prefix,
      store,
      exchanges: [adapter.forProcess('doomed')],
      role: 'worker',
      redis: { host: '127.0.0.1', port: proxy.port, retryStrategy: () => null },
      ...lock,
    })
    const api = processOf({ prefix, store, exchanges: [adapter.forProcess('api')], role: 'api' })
    doomed.start()
    api.start()
    doomed.on('error', () => {})
    const outcome = api.syncNow(connection.id)
    await until(() => adapter.calls.length === 1, 'the doomed sync to start')
    proxy.cut()
    processOf({ prefix, store, exchanges: [adapter.forProcess('heir')], role: 'worker', ...lock }).start()
    expect(await outcome).toEqual({ ok: true, connectionId: connection.id, balances: BTC })
    expect(adapter.calls.map((call) => call.by)).toEqual(['doomed', 'heir'])
    // The doomed process's own sync still hangs; stopping it aborts that one and closes what is left.
    await doomed.stop({ timeoutMs: 50 })
    await proxy.close()
  })

  it('records due connections of an exchange no adapter syncs as UNSUPPORTED_EXCHANGE, with one warning', async () => {
    const prefix = newPrefix()
    const store = new MemoryStore()
    const orphans = [
      await store.add({ userId: 'alice', exchange: 'kraken', credentials: KEYS }),
      await store.add({ userId: 'bob', exchange: 'kraken', credentials: KEYS }),
    ]
    const worker = processOf({ prefix, store, exchanges: [clusterAdapter('binance').forProcess('w')], role: 'worker' })
    const api = processOf({ prefix, store, exchanges: [clusterAdapter('binance').forProcess('api')], role: 'api' })
    const warnings = collect(worker, 'warning')
    const failures = collect(api, 'sync:failure')
    worker.start()
    api.start()
    await until(() => failures.length === 2, 'both orphans recorded')
    expect(warnings).toEqual([expect.objectContaining({ code: 'UNSUPPORTED_EXCHANGE', exchange: 'kraken' })])
    for (const orphan of orphans) {
      const stored = await store.get(orphan.id)
      expect(stored).toMatchObject({ status: 'active', lastError: { code: 'UNSUPPORTED_EXCHANGE' } })
      expect(stored?.nextSyncAt).toBeGreaterThan(Date.now())
    }
  })

  it('rejects bad options with an error naming the option', () => {
    const store = new MemoryStore()
    const exchanges = [clusterAdapter('binance').forProcess('x')]
    const redis = { host: '127.0.0.1', port: 1 }
    const cases: Array<[unknown, string]> = [
      [null, 'option "(options)" is invalid: must be an object'],
      [{ store, exchanges }, 'option "redis" is invalid'],
      [{ store, exchanges, redis, role: 'boss' }, 'option "role" is invalid'],
      [{ store, exchanges, redis, prefix: 'a:b' }, 'option "prefix" is invalid'],
      [{ store, exchanges, redis, lockDurationMs: 10 }, 'option "lockDurationMs" is invalid: must be at least 1000 ms'],
      [{ store, exchanges, redis, intervalMs: -1 }, 'BullmqScheduler: option "intervalMs" is invalid'],
      [{ store, exchanges, redis, tickMs: 5 }, 'option "tickMs" is invalid: is not an option of BullmqScheduler'],
      [{ store, exchanges: [{ id: 'a:b', fetchBalances: () => ({ balances: [] }) }], redis }, 'option "exchanges"'],
      [{ store, exchanges, redis, egress: '' }, 'option "egress" is invalid'],
    ]
    for (const [options, message] of cases) {
      expect(() => new BullmqScheduler(options as BullmqSchedulerOptions)).toThrow(InvalidOptionError)
      expect(() => new BullmqScheduler(options as BullmqSchedulerOptions)).toThrow(message)
    }
  })

  it("duplicates a host's ioredis instance and never closes it", async () => {
    const host = new Redis({ host: server.host, port: server.port })
    clients.push(host)
    const store = new MemoryStore()
    const connection = await notDue(store)
    const adapter = clusterAdapter('binance')
    const scheduler = processOf({ prefix: newPrefix(), store, exchanges: [adapter.forProcess('w')], redis: host })
    scheduler.start()
    expect(await scheduler.syncNow(connection.id)).toMatchObject({ ok: true })
    await scheduler.stop()
    expect(await host.ping()).toBe('PONG')
  })
})
