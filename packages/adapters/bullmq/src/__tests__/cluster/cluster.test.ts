// The cluster under real conditions: three worker processes and one api process over one Redis and one Postgres
// server, 500 connections against a fake Binance that counts weight per IP per window and requests in flight per
// key, a budget that binds, and one worker killed with SIGKILL while its syncs are in flight.
import { createCredentialCipher, generateCredentialKey } from '@syncfolio/core'
import { PostgresStore } from '@syncfolio/postgres'
import { type FakeExchangeServer, startFakeExchange } from '@syncfolio/testing'
import { type PostgresServer, type RedisServer, startPostgres, startRedis } from '@syncfolio/testing/services'
import { Redis } from 'ioredis'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ClusterNode, type ClusterNodeConfig, type ReportedEvent, startClusterNode } from './clusterHarness.js'

const CONNECTIONS = 500
const USERS = 10
/** A short interval, so the run sees several. */
const INTERVAL_MS = 5_000
/** Binance's weight window, shortened from a minute; the fake and syncfolio's budget both count in it. */
const WINDOW_MS = 2_000
/** Weight per window: 240 syncs of 20, about 1.2 times what 500 connections need per interval. It binds. */
const BUDGET = 4_800
const COST = 20
/** Every answer of the fake takes this long, so syncs overlap and a kill lands mid-request. */
const LATENCY_MS = 100
/** Per process; three workers could run 300 syncs a second, the budget allows 120. */
const CONCURRENCY = 10
/** How long a killed worker's job stays locked, and how often workers look for such jobs: a kill costs both. */
const LOCK_MS = 4_000
const STALLED_CHECK_MS = 1_000
/** Intervals the cluster runs; the kill comes in the third. */
const INTERVALS = 8
const KILL_AFTER_MS = 2.5 * INTERVAL_MS
const PREFIX = 'cluster-test'
/** BullMQ's keys of the Binance sync queue. */
const QUEUE_KEY = `${PREFIX}:sync-binance`

/**
 * The connections whose sync jobs a worker holds (active, locked with its token): every job whose lock token has the
 * same BullMQ worker id as the lock of one of `known`.
 */
async function heldJobs(redis: Redis, known: readonly string[]): Promise<string[]> {
  const jobIds = await redis.lrange(`${QUEUE_KEY}:active`, 0, -1)
  const tokens = await Promise.all(jobIds.map((jobId) => redis.get(`${QUEUE_KEY}:${jobId}:lock`)))
  const connectionOf = (jobId: string) => Buffer.from(jobId.slice(1), 'base64url').toString('utf8')
  const owner = (token: string | null) => token?.slice(0, token.lastIndexOf(':')) ?? null
  const owners = new Set(
    jobIds.map((jobId, index) => (known.includes(connectionOf(jobId)) ? owner(tokens[index] ?? null) : null)),
  )
  owners.delete(null)
  return jobIds.filter((_, index) => owners.has(owner(tokens[index] ?? null))).map(connectionOf)
}

const binanceLimits = {
  binance: {
    cost: COST,
    budgets: [{ scope: 'exchange' as const, limit: BUDGET, windowMs: WINDOW_MS, align: 'clock' as const }],
  },
}

describe('BullmqScheduler: three workers and an api process, one worker killed mid-sync', () => {
  let redis: RedisServer
  let postgres: PostgresServer
  let fake: FakeExchangeServer
  let store: PostgresStore
  const credentialKey = generateCredentialKey()
  const nodes: ClusterNode[] = []
  const ids: string[] = []
  let api: ClusterNode
  let workers: ClusterNode[]
  let victim: ClusterNode
  let startedAt = 0
  /** The store, read at the end of each interval: each connection's `lastSyncAt` then. */
  const samples: Array<{ at: number; lastSyncAt: Map<string, number | null> }> = []
  let killedAt = 0
  /** Connections whose sync was in flight on the victim when it was killed. */
  let killedSyncs: string[] = []
  /** Every job the victim held when it died: those syncs, and jobs it had taken that were still waiting to start. */
  let killedJobs: string[] = []
  let manualOutcome: { ok: boolean; code: string | null } | undefined

  beforeAll(async () => {
    // Real services: no skip when one is missing, the test fails saying what to install.
    ;[redis, postgres] = await Promise.all([startRedis(), startPostgres()])
    fake = await startFakeExchange({
      accounts: Array.from({ length: CONNECTIONS }, (_, n) => ({
        exchange: 'binance' as const,
        apiKey: `key-${n}`,
        secret: `secret-${n}`,
        balances: [{ asset: 'BTC', free: `0.${String(n + 1).padStart(8, '0')}` }],
      })),
      binance: { weightPerMinute: BUDGET, weightWindowMs: WINDOW_MS, banAfter429s: 1_000 },
      maxLogEntries: 100_000,
    })
    fake.inject({ type: 'latency', ms: LATENCY_MS })
    store = new PostgresStore({
      db: new pg.Pool({ connectionString: postgres.connectionString, max: 4 }),
      cipher: createCredentialCipher({ keys: { k1: credentialKey }, primary: 'k1' }),
    })
    await store.migrate()
    for (let n = 0; n < CONNECTIONS; n++) {
      const connection = await store.add({
        userId: `user-${n % USERS}`,
        exchange: 'binance',
        credentials: { apiKey: `key-${n}`, secret: `secret-${n}` },
      })
      ids.push(connection.id)
    }

    ;[api, ...workers] = (await Promise.all([
      startClusterNode(config('api', 'api')),
      startClusterNode(config('worker', 'worker-1')),
      startClusterNode(config('worker', 'worker-2')),
      startClusterNode(config('worker', 'worker-3')),
    ])) as [ClusterNode, ...ClusterNode[]]
    nodes.push(api, ...workers)
    victim = workers[1] as ClusterNode
    startedAt = Date.now()
    let manual: Promise<{ ok: boolean; code: string | null }> | undefined
    for (let interval = 1; interval <= INTERVALS; interval++) {
      const end = startedAt + interval * INTERVAL_MS
      while (Date.now() < end) {
        if (killedAt === 0 && Date.now() - startedAt >= KILL_AFTER_MS && victim.running().size >= 3) {
          // Syncs are in flight on the victim right now: its last reported starts have not finished.
          killedSyncs = [...victim.running()]
          killedAt = Date.now()
          await victim.kill()
          // Its locks outlive it (that is the point): read which jobs it held.
          const inspector = new Redis({ host: redis.host, port: redis.port })
          killedJobs = await heldJobs(inspector, killedSyncs)
          await inspector.quit()
        }
        if (manual === undefined && interval === 4) manual = api.syncNow(ids[7] as string)
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      samples.push({ at: Date.now(), lastSyncAt: await lastSyncs() })
    }
    manualOutcome = await manual
    await Promise.all(nodes.map((node) => node.stop()))
  }, 180_000)

  afterAll(async () => {
    await Promise.all(nodes.map((node) => node.stop()))
    await store?.close()
    await fake?.close()
    await Promise.all([redis?.stop(), postgres?.stop()])
  }, 60_000)

  const config = (role: ClusterNodeConfig['role'], workerId: string): ClusterNodeConfig => ({
    role,
    workerId,
    redis: { host: redis.host, port: redis.port },
    databaseUrl: postgres.connectionString,
    credentialKey,
    fakeUrl: fake.url,
    intervalMs: INTERVAL_MS,
    concurrency: CONCURRENCY,
    timeoutMs: 3_000,
    limits: binanceLimits,
    prefix: PREFIX,
    scheduler: { lockDurationMs: LOCK_MS, stalledIntervalMs: STALLED_CHECK_MS },
    report: role === 'api' ? 'all' : 'own',
  })

  /** Each connection's `lastSyncAt`, read through the store as any process would. */
  async function lastSyncs(): Promise<Map<string, number | null>> {
    const seen = new Map<string, number | null>()
    for (let user = 0; user < USERS; user++) {
      for (const connection of await store.listByUser(`user-${user}`)) seen.set(connection.id, connection.lastSyncAt)
    }
    return seen
  }

  const successes = () =>
    api.events.filter((event): event is Extract<ReportedEvent, { type: 'success' }> => event.type === 'success')
  /** How long after it was due (the `nextSyncAt` its last sync set) each sweep sync started: quantiles, ms. */
  const lateness = () => {
    const dueAt = new Map<string, number>()
    const late: number[] = []
    for (const event of successes()) {
      const due = dueAt.get(event.connectionId)
      if (due !== undefined && event.trigger === 'sweep') late.push(event.startedAt - due)
      dueAt.set(event.connectionId, event.nextSyncAt)
    }
    late.sort((a, b) => a - b)
    const at = (q: number) => late[Math.min(late.length - 1, Math.floor(q * late.length))]
    return `sweep syncs started after they were due by: median ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms; ${late.filter((ms) => ms > 1_000).length} of ${late.length} more than 1 s late`
  }
  const problems = () =>
    nodes
      .filter((node) => node.errors.length > 0)
      .map((node) => `${node.workerId}: ${node.errors.slice(0, 3).join('; ')}`)
      .join('\n')

  it('kills a worker with SIGKILL while it has syncs in flight', async () => {
    expect(killedAt, 'the victim never had three syncs in flight after the kill point').toBeGreaterThan(0)
    expect(killedSyncs.length).toBeGreaterThanOrEqual(3)
    // Redis still held their jobs, locked to the dead worker.
    expect(killedJobs).toEqual(expect.arrayContaining(killedSyncs))
    expect(await victim.exited).toMatchObject({ signal: 'SIGKILL' })
  })

  it('receives 0 x 429 and keeps every window within the budget, which binds', () => {
    const refused = fake.requests.filter((request) => request.status === 429 || request.status === 418)
    expect(refused, problems()).toEqual([])
    const windows = fake.weightWindows()
    expect(windows.filter((window) => window.used > BUDGET || window.refused > 0)).toEqual([])
    // The budget bound: the first interval's burst filled windows to within a few syncs of it, and workers waited
    // for it. (A wait for the budget is the waiting worker's own event; only pauses the exchange asks for go to the
    // whole cluster.)
    expect(Math.max(...windows.map((window) => window.used))).toBeGreaterThanOrEqual(BUDGET * 0.9)
    expect(workers.reduce((sum, node) => sum + node.ratelimits.budget, 0)).toBeGreaterThan(0)
  })

  it('never has two requests of one key in flight at once, the kill included', () => {
    expect(fake.keyConcurrency()).toMatchObject({ peak: 1, overlapping: 0 })
  })

  it("syncs every connection in every interval after the first; the killed worker's held jobs after their locks expire", () => {
    // Each connection comes due once per interval, at its own phase in it (nextSyncAt). "Synced in every interval"
    // is: every time it comes due, it is synced before it comes due again, so no interval goes without. A job the
    // victim held may take its lock's expiry and the next stalled check on top.
    const kill = LOCK_MS + STALLED_CHECK_MS
    const runs = new Map<string, Array<Extract<ReportedEvent, { type: 'success' }>>>()
    for (const event of successes()) runs.set(event.connectionId, [...(runs.get(event.connectionId) ?? []), event])
    const end = (samples.at(-1) as (typeof samples)[number]).at
    const missed: string[] = []
    for (const id of ids) {
      const syncs = (runs.get(id) ?? []).sort((a, b) => a.startedAt - b.startedAt)
      if (syncs.length === 0) {
        missed.push(`${id}: never synced`)
        continue
      }
      for (let n = 1; n < syncs.length; n++) {
        const [before, after] = [syncs[n - 1], syncs[n]] as [(typeof syncs)[number], (typeof syncs)[number]]
        const heldAtKill = killedJobs.includes(id) && before.startedAt < killedAt && after.startedAt >= killedAt
        const late = after.startedAt - before.nextSyncAt
        if (late >= INTERVAL_MS + (heldAtKill ? kill : 0)) missed.push(`${id}: synced ${late} ms after it was due`)
      }
      const last = syncs.at(-1) as (typeof syncs)[number]
      if (end - last.nextSyncAt >= INTERVAL_MS)
        missed.push(`${id}: due at ${last.nextSyncAt - startedAt} ms, never synced again`)
    }
    expect(missed.slice(0, 10), `${missed.length} missed intervals; ${lateness()}`).toEqual([])

    // The store says the same: at the end of every interval after the first, each connection synced within the
    // last two (its phase may move it up to one interval on, never two).
    const stale: string[] = []
    for (const [k, sample] of samples.entries()) {
      if (k === 0) continue
      for (const id of ids) {
        const age = sample.at - (sample.lastSyncAt.get(id) ?? Number.NEGATIVE_INFINITY)
        const allowed = 2 * INTERVAL_MS + (killedJobs.includes(id) && sample.at > killedAt ? kill : 0)
        if (age >= allowed) stale.push(`${id} at the end of interval ${k + 1}: last synced ${age} ms before`)
      }
    }
    expect(stale.slice(0, 10), `${stale.length} stale in the store`).toEqual([])
  })

  it("completes the killed worker's syncs on the other workers, and loses no job", () => {
    for (const id of killedJobs) {
      const redone = successes().filter(
        (event) => event.connectionId === id && event.startedAt >= killedAt && event.worker !== victim.workerId,
      )
      expect(redone.length, `${id}, held by the victim when it died, never synced again`).toBeGreaterThan(0)
    }
    const final = samples.at(-1)?.lastSyncAt as Map<string, number | null>
    expect(ids.filter((id) => (final.get(id) ?? 0) <= killedAt)).toEqual([])
    expect(api.events.filter((event) => event.type === 'failure')).toEqual([])
  })

  it("serves syncNow and every worker's sync events from the api process, which runs no sync", () => {
    const ranBy = new Set(successes().map((event) => event.worker))
    expect([...ranBy].sort()).toEqual(['worker-1', 'worker-2', 'worker-3'])
    expect(manualOutcome).toEqual({ ok: true, code: null })
    expect(
      successes().some(
        (event) => event.connectionId === ids[7] && event.trigger === 'manual' && event.worker?.startsWith('worker-'),
      ),
    ).toBe(true)
  })
})
