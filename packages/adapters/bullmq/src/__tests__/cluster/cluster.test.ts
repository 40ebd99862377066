// The cluster under real conditions: three worker processes and one api process over one Redis and one Postgres
// server, 500 connections against a fake Binance that counts weight per IP per window and requests in flight per
// key, a budget that binds, and one worker killed with SIGKILL while its syncs are in flight.
import { createCredentialCipher, generateCredentialKey } from '@syncfolio/core'
import { PostgresStore } from '@syncfolio/postgres'
import { type FakeExchangeServer, startFakeExchange } from '@syncfolio/testing'
import { type PostgresServer, type RedisServer, startPostgres, startRedis } from '@syncfolio/testing/services'
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
  }, 120_000)

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
    prefix: 'cluster-test',
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

  it('keeps every connection synced each interval inside the budget, one request per key at a time, and loses no job', async () => {
    const [api, ...workers] = await Promise.all([
      startClusterNode(config('api', 'api')),
      startClusterNode(config('worker', 'worker-1')),
      startClusterNode(config('worker', 'worker-2')),
      startClusterNode(config('worker', 'worker-3')),
    ])
    nodes.push(api as ClusterNode, ...workers)
    const victim = workers[1] as ClusterNode
    const startedAt = Date.now()

    // The store, read once per interval: which connections synced in each.
    const samples: Array<{ at: number; lastSyncAt: Map<string, number | null> }> = []
    let killedAt = 0
    let killedSyncs: string[] = []
    let manual: Promise<{ ok: boolean; code: string | null }> | undefined
    for (let interval = 1; interval <= INTERVALS; interval++) {
      const end = startedAt + interval * INTERVAL_MS
      while (Date.now() < end) {
        if (killedAt === 0 && Date.now() - startedAt >= KILL_AFTER_MS && victim.running().size >= 3) {
          // Syncs are in flight on the victim right now: its last reported starts have not finished.
          killedSyncs = [...victim.running()]
          killedAt = Date.now()
          await victim.kill()
        }
        if (manual === undefined && interval === 4) manual = (api as ClusterNode).syncNow(ids[7] as string)
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      samples.push({ at: Date.now(), lastSyncAt: await lastSyncs() })
    }
    const manualOutcome = await manual
    await Promise.all(nodes.map((node) => node.stop()))

    const diagnostics = nodes.map((node) => `${node.workerId}: ${node.errors.slice(0, 3).join('; ')}`).join('\n')

    // The kill happened while the victim had syncs in flight.
    expect(killedAt, 'the victim never had three syncs in flight after the kill point').toBeGreaterThan(0)
    expect(killedSyncs.length).toBeGreaterThanOrEqual(3)
    expect(await victim.exited).toMatchObject({ signal: 'SIGKILL' })

    // 0 x 429 or 418, and no window of the fake's over the budget.
    const refused = fake.requests.filter((request) => request.status === 429 || request.status === 418)
    expect(refused, diagnostics).toEqual([])
    const windows = fake.weightWindows()
    expect(windows.filter((window) => window.used > BUDGET || window.refused > 0)).toEqual([])
    // The budget bound: some windows were filled to within one sync of it.
    expect(Math.max(...windows.map((window) => window.used))).toBeGreaterThan(BUDGET - 2 * COST)

    // Never two requests of one key at once, kill included.
    expect(fake.keyConcurrency()).toMatchObject({ peak: 1, overlapping: 0 })

    // Every connection synced in every interval after the first; a connection the victim held may miss the
    // intervals until its lock expired and another worker took it.
    const recovery = { from: killedAt, to: killedAt + LOCK_MS + STALLED_CHECK_MS + INTERVAL_MS }
    const missed: string[] = []
    for (let k = 1; k < samples.length; k++) {
      const previous = samples[k - 1] as (typeof samples)[number]
      const current = samples[k] as (typeof samples)[number]
      const excused = current.at > recovery.from && previous.at < recovery.to
      for (const id of ids) {
        const synced = current.lastSyncAt.get(id) ?? null
        if (synced !== null && synced > previous.at) continue
        if (excused && killedSyncs.includes(id)) continue
        missed.push(`${id} in interval ${k + 1} (last synced ${synced === null ? 'never' : synced - startedAt} ms in)`)
      }
    }
    expect(missed.slice(0, 20), `${missed.length} misses`).toEqual([])

    // The victim's syncs were completed by the other workers after the kill; none is lost.
    const events = (api as ClusterNode).events
    const successes = events.filter(
      (event): event is Extract<ReportedEvent, { type: 'success' }> => event.type === 'success',
    )
    for (const id of killedSyncs) {
      const redone = successes.filter(
        (event) => event.connectionId === id && event.startedAt >= killedAt && event.worker !== victim.workerId,
      )
      expect(redone.length, `${id}, in flight on the victim when it died, never synced again`).toBeGreaterThan(0)
    }
    const final = samples.at(-1)?.lastSyncAt as Map<string, number | null>
    expect(ids.filter((id) => (final.get(id) ?? 0) <= killedAt)).toEqual([])
    expect(events.filter((event) => event.type === 'failure')).toEqual([])

    // The api process ran no sync, yet heard of every worker's, and served a manual sync run on a worker.
    const ranBy = new Set(successes.map((event) => event.worker))
    expect([...ranBy].sort()).toEqual(['worker-1', 'worker-2', 'worker-3'])
    expect(manualOutcome).toEqual({ ok: true, code: null })
    expect(
      successes.some(
        (event) => event.connectionId === ids[7] && event.trigger === 'manual' && event.worker?.startsWith('worker-'),
      ),
    ).toBe(true)
  }, 180_000)
})
