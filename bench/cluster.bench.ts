// BullmqScheduler across worker processes, over one Redis and one Postgres server, against the fake Binance:
// - at a fixed Binance budget, syncs per minute and 429s with 1, 2 and 4 workers (the budget is shared, not
//   multiplied);
// - with no budget and a 50 ms exchange, throughput with 1, 2 and 4 workers (it should scale with the workers);
// - the per-sync overhead of a job in Redis against the in-process SyncScheduler, on the same store and exchange.
import { cpus } from 'node:os'
import { createCcxtAdapter } from '@syncfolio/ccxt'
import { createCredentialCipher, generateCredentialKey, SyncScheduler } from '@syncfolio/core'
import { PostgresStore } from '@syncfolio/postgres'
import { type FakeExchangeServer, startFakeExchange } from '@syncfolio/testing'
import { type PostgresServer, type RedisServer, startPostgres, startRedis } from '@syncfolio/testing/services'
import { Redis } from 'ioredis'
import pg from 'pg'
import {
  type ClusterNode,
  type ClusterNodeConfig,
  startClusterNode,
} from '../packages/adapters/bullmq/src/__tests__/cluster/clusterHarness.js'
import { type Benchmark, fixed, ratio, runVariant, table } from './lib/harness.js'

const COST = 20
const WORKER_COUNTS = [1, 2, 4]
const credentialKey = generateCredentialKey()
const cipher = createCredentialCipher({ keys: { k1: credentialKey }, primary: 'k1' })

interface Services {
  redis: RedisServer
  postgres: PostgresServer
}

let runs = 0

/** A fresh fake Binance with `count` accounts, and a fresh table of `count` connections, all due now. */
async function setUp(
  services: Services,
  { count, latencyMs, fake: fakeOptions = {} }: { count: number; latencyMs: number; fake?: object },
) {
  const run = ++runs
  const fake = await startFakeExchange({
    accounts: Array.from({ length: count }, (_, n) => ({
      exchange: 'binance' as const,
      apiKey: `key-${n}`,
      secret: `secret-${n}`,
      balances: [{ asset: 'BTC', free: '0.5' }],
    })),
    maxLogEntries: 200_000,
    // No limit of the fake's own unless a run sets one: it is syncfolio's budget that is measured.
    binance: { weightPerMinute: 100_000_000 },
    ...fakeOptions,
  })
  if (latencyMs > 0) fake.inject({ type: 'latency', ms: latencyMs })
  const tablePrefix = `bench${run}_`
  const pool = new pg.Pool({ connectionString: services.postgres.connectionString, max: 8 })
  const store = new PostgresStore({ db: pool, cipher, tablePrefix })
  await store.migrate()
  for (let start = 0; start < count; start += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, count - start) }, (_, k) =>
        store.add({
          userId: `user-${(start + k) % 100}`,
          exchange: 'binance',
          credentials: { apiKey: `key-${start + k}`, secret: `secret-${start + k}` },
        }),
      ),
    )
  }
  await store.close()
  return { fake, tablePrefix, prefix: `bench-${run}` }
}

function nodeConfig(
  services: Services,
  fake: FakeExchangeServer,
  extra: Pick<
    ClusterNodeConfig,
    'role' | 'workerId' | 'intervalMs' | 'concurrency' | 'limits' | 'prefix' | 'tablePrefix'
  >,
): ClusterNodeConfig {
  return {
    redis: { host: services.redis.host, port: services.redis.port },
    databaseUrl: services.postgres.connectionString,
    credentialKey,
    fakeUrl: fake.url,
    timeoutMs: 10_000,
    report: 'own',
    ...extra,
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function startWorkers(count: number, config: (workerId: string) => ClusterNodeConfig): Promise<ClusterNode[]> {
  return Promise.all(Array.from({ length: count }, (_, n) => startClusterNode(config(`worker-${n + 1}`))))
}

/** Resolves when the first of the nodes reports a successful sync. */
function firstSuccess(nodes: ClusterNode[]): Promise<number> {
  return new Promise((resolve) => {
    const offs = nodes.map((node) =>
      node.onEvent((event) => {
        if (event.type !== 'success') return
        for (const off of offs) off()
        resolve(event.at)
      }),
    )
  })
}

function successesBetween(nodes: ClusterNode[], from: number, to: number): number {
  let count = 0
  for (const node of nodes) {
    for (const event of node.events) if (event.type === 'success' && event.at >= from && event.at < to) count++
  }
  return count
}

/** A fixed Binance budget, shared: the cluster should fill it, whatever its size, and never go over. */
async function budgetRun(services: Services, workers: number) {
  const windowMs = 5_000
  const budget = 2_000 // 100 syncs per 5 s window: 1,200 a minute
  const measuredWindows = 5
  const { fake, tablePrefix, prefix } = await setUp(services, {
    count: 1_000,
    latencyMs: 20,
    fake: { binance: { weightPerMinute: budget, weightWindowMs: windowMs, banAfter429s: 1_000 } },
  })
  const limits = {
    binance: {
      cost: COST,
      budgets: [{ scope: 'exchange' as const, limit: budget, windowMs, align: 'clock' as const }],
    },
  }
  const nodes = await startWorkers(workers, (workerId) =>
    nodeConfig(services, fake, {
      role: 'worker',
      workerId,
      intervalMs: 2_000,
      concurrency: 5,
      limits,
      prefix,
      tablePrefix,
    }),
  )
  const first = await firstSuccess(nodes)
  // From the first whole window after one of warm-up, for `measuredWindows` windows.
  const from = (Math.floor(first / windowMs) + 2) * windowMs
  const to = from + measuredWindows * windowMs
  await sleep(to - Date.now() + 500)
  await Promise.all(nodes.map((node) => node.stop()))
  const windows = fake.weightWindows().filter((window) => window.start >= from && window.end <= to)
  const used = windows.reduce((sum, window) => sum + window.used, 0)
  const refused = fake.requests.filter((request) => request.status === 429 || request.status === 418).length
  await fake.close()
  return {
    syncsPerMinute: (used / COST / (windows.length * windowMs)) * 60_000,
    budgetPerMinute: (budget / COST / windowMs) * 60_000,
    share: used / (windows.length * budget),
    lowest: Math.min(...windows.map((window) => window.used)) / budget,
    highest: Math.max(...windows.map((window) => window.used)) / budget,
    refused,
    windows: windows.length,
  }
}

/** No budget, a 50 ms exchange: throughput should grow with the workers. */
async function throughputRun(services: Services, workers: number) {
  const concurrency = 5
  const { fake, tablePrefix, prefix } = await setUp(services, { count: 5_000, latencyMs: 50 })
  const limits = { binance: { cost: COST, budgets: [] } }
  const nodes = await startWorkers(workers, (workerId) =>
    nodeConfig(services, fake, {
      role: 'worker',
      workerId,
      intervalMs: 600_000,
      concurrency,
      limits,
      prefix,
      tablePrefix,
    }),
  )
  const first = await firstSuccess(nodes)
  const from = first + 2_000
  const to = from + 8_000
  await sleep(to - Date.now() + 200)
  const synced = successesBetween(nodes, from, to)
  await Promise.all(nodes.map((node) => node.stop()))
  await fake.close()
  return { perSecond: synced / ((to - from) / 1000), concurrency }
}

async function redisCpuMs(redis: Redis): Promise<number> {
  const info = await redis.info('cpu')
  const read = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0)
  return (read('used_cpu_user') + read('used_cpu_sys')) * 1000
}

/** One worker process, one sync at a time, no latency: what a sync costs through Redis, against SyncScheduler. */
async function overheadRun(services: Services) {
  const count = 1_000
  const limits = { binance: { cost: COST, budgets: [] } }
  const inProcess = await (async () => {
    const { fake, tablePrefix } = await setUp(services, { count, latencyMs: 0 })
    const figures = await runVariant(import.meta.url, 'inProcess', {
      databaseUrl: services.postgres.connectionString,
      tablePrefix,
      credentialKey,
      fakeUrl: fake.url,
      count,
    })
    await fake.close()
    return { wallMs: figures.wallMs as number, cpuMs: figures.syncCpuMs as number }
  })()

  const { fake, tablePrefix, prefix } = await setUp(services, { count, latencyMs: 0 })
  const redis = new Redis({ host: services.redis.host, port: services.redis.port })
  const [node] = await startWorkers(1, (workerId) =>
    nodeConfig(services, fake, {
      role: 'all',
      workerId,
      intervalMs: 600_000,
      concurrency: 1,
      limits,
      prefix,
      tablePrefix,
    }),
  )
  const worker = node as ClusterNode
  const done = new Promise<number>((resolve) => {
    let synced = 0
    worker.onEvent((event) => {
      if (event.type === 'success' && ++synced === count) resolve(event.at)
    })
  })
  const cpuBefore = await worker.cpuMs()
  const redisBefore = await redisCpuMs(redis)
  const first = await firstSuccess([worker])
  const last = await done
  const cpuMs = (await worker.cpuMs()) - cpuBefore
  const redisMs = (await redisCpuMs(redis)) - redisBefore
  await worker.stop()
  await redis.quit()
  await fake.close()
  // From the first sync's end to the last's: count - 1 syncs, each one at a time.
  return { inProcess, cluster: { wallMs: last - first, cpuMs, redisMs }, count }
}

export const variants = {
  /** SyncScheduler.runOnce over the table, one sync at a time, in a process of its own. */
  inProcess: async ({
    databaseUrl,
    tablePrefix,
    credentialKey: key,
    fakeUrl,
    count,
  }: {
    databaseUrl: string
    tablePrefix: string
    credentialKey: string
    fakeUrl: string
    count: number
  }) => {
    const store = new PostgresStore({
      db: new pg.Pool({ connectionString: databaseUrl, max: 3 }),
      cipher: createCredentialCipher({ keys: { k1: key }, primary: 'k1' }),
      tablePrefix,
    })
    const scheduler = new SyncScheduler({
      store,
      exchanges: [createCcxtAdapter('binance', { baseUrl: fakeUrl })],
      concurrency: 1,
      limits: { binance: { cost: COST, budgets: [] } },
    })
    const cpu = process.cpuUsage()
    const started = performance.now()
    const report = await scheduler.runOnce()
    const wallMs = performance.now() - started
    const used = process.cpuUsage(cpu)
    await store.close()
    if (report.succeeded !== count) throw new Error(`synced ${report.succeeded} of ${count}`)
    return { wallMs, syncCpuMs: (used.user + used.system) / 1000 }
  },
}

export const benchmark: Benchmark = {
  title: 'Cluster: BullmqScheduler across worker processes',
  async run() {
    const [redis, postgres] = await Promise.all([startRedis(), startPostgres()])
    const services = { redis, postgres }
    try {
      const budget = []
      for (const workers of WORKER_COUNTS) budget.push({ workers, ...(await budgetRun(services, workers)) })
      const throughput = []
      for (const workers of WORKER_COUNTS) throughput.push({ workers, ...(await throughputRun(services, workers)) })
      const overhead = await overheadRun(services)

      const one = throughput[0]?.perSecond ?? 0
      const perSyncIn = overhead.inProcess.wallMs / overhead.count
      const perSyncCluster = overhead.cluster.wallMs / (overhead.count - 1)
      const budgetLine = budget[0]
      return [
        `### A shared Binance budget: ${fixed(budgetLine?.budgetPerMinute ?? 0, 0)} syncs a minute (2,000 weight per 5 s window, 20 per sync)`,
        '',
        table(
          ['workers', 'syncs / min', 'share of the budget', 'windows, lowest to highest', '429 / 418'],
          budget.map((row) => [
            row.workers,
            fixed(row.syncsPerMinute, 0),
            `${fixed(row.share * 100, 1)} %`,
            `${fixed(row.lowest * 100, 0)}-${fixed(row.highest * 100, 0)} %`,
            row.refused,
          ]),
        ),
        '',
        `1,000 connections due every 2 s, far more than the budget allows; concurrency 5 per worker; the fake answers in 20 ms and refuses anything over 2,000 per window. Measured from the fake's own count over ${budgetLine?.windows ?? 0} whole windows after one of warm-up.`,
        '',
        '### No budget, a 50 ms exchange: throughput as workers are added',
        '',
        table(
          ['workers', 'syncs / s', 'ratio to 1 worker', 'ratio / workers'],
          throughput.map((row) => [
            row.workers,
            fixed(row.perSecond, 0),
            ratio(row.perSecond, one),
            fixed(row.perSecond / one / row.workers, 2),
          ]),
        ),
        '',
        `5,000 connections, concurrency ${throughput[0]?.concurrency ?? 0} per worker (at most ${(throughput[0]?.concurrency ?? 0) * 20} syncs/s each at 50 ms), counted over 8 s after 2 s of warm-up. Every worker is a process; they share this machine's ${cpus().length} CPUs with Redis, Postgres and the fake exchange, which bounds the larger counts.`,
        '',
        '### Per-sync cost: a job through Redis against the in-process SyncScheduler',
        '',
        table(
          ['scheduler', 'wall ms / sync', 'ratio', 'scheduler CPU ms / sync', 'Redis CPU ms / sync'],
          [
            [
              'SyncScheduler (runOnce)',
              fixed(perSyncIn, 2),
              '1.00x',
              fixed(overhead.inProcess.cpuMs / overhead.count, 2),
              '-',
            ],
            [
              'BullmqScheduler, one worker',
              fixed(perSyncCluster, 2),
              ratio(perSyncCluster, perSyncIn),
              fixed(overhead.cluster.cpuMs / overhead.count, 2),
              fixed(overhead.cluster.redisMs / overhead.count, 2),
            ],
          ],
        ),
        '',
        `${overhead.count.toLocaleString('en-US')} connections, one sync at a time, the fake exchange answering at once, the same Postgres store and ccxt adapter: the difference is what a sync costs in queueing, locks and events. Overhead: ${fixed(perSyncCluster - perSyncIn, 2)} ms per sync.`,
      ].join('\n')
    } finally {
      await Promise.all([redis.stop(), postgres.stop()])
    }
  },
}

if (process.argv[1] === new URL(import.meta.url).pathname) console.log(await benchmark.run())
