// The ccxt adapter against what a host app writes by hand today: a fresh `new ccxt.binance({ apiKey, secret })` per
// sync, then `fetchBalance()`. Both talk to the fake exchange over real HTTP on 127.0.0.1; the fake runs in this
// (parent) process, so each variant's CPU is the client side alone.
import { fileURLToPath } from 'node:url'
import { createCcxtAdapter } from '@syncfolio/ccxt'
import { startFakeExchange } from '@syncfolio/testing'
import ccxt from 'ccxt'
import pLimit from 'p-limit'
import { type Benchmark, fixed, ratio, runVariant, table } from './lib/harness.js'

const ACCOUNTS = 20
const SYNCS = 300
/** Untimed syncs first, so both variants are measured warm (JIT, sockets, the adapter's pool). */
const WARM_UP = 20
const CONCURRENCY = 5

interface Args {
  url: string
  live: boolean
}

function credentials(sync: number) {
  const account = sync % ACCOUNTS
  return { apiKey: `bench-key-${account}`, secret: `bench-secret-${account}` }
}

const connection = {
  id: 'bench',
  userId: 'bench',
  exchange: 'binance',
  status: 'active' as const,
  lastSyncAt: null,
  lastAttemptAt: null,
  nextSyncAt: null,
  failureCount: 0,
  lastError: null,
}

/**
 * Runs SYNCS balance syncs at CONCURRENCY. In `live` mode it also runs a full GC twenty times and samples the heap, so
 * the peak is what the syncs keep alive, not garbage waiting for collection (that run is not timed).
 */
async function measure({ live }: Args, sync: (index: number) => Promise<unknown>) {
  const limit = pLimit(CONCURRENCY)
  await Promise.all(Array.from({ length: WARM_UP }, (_, index) => limit(() => sync(index))))
  let done = 0
  let peakHeap = 0
  const every = SYNCS / 20
  globalThis.gc?.()
  const heapBefore = process.memoryUsage().heapUsed
  const cpu = process.cpuUsage()
  const started = performance.now()
  await Promise.all(
    Array.from({ length: SYNCS }, (_, index) =>
      limit(async () => {
        await sync(index)
        if (live && ++done % every === 0) {
          globalThis.gc?.()
          peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed)
        }
      }),
    ),
  )
  const wallMs = performance.now() - started
  const used = process.cpuUsage(cpu)
  return {
    cpuMsPerSync: (used.user + used.system) / 1000 / SYNCS,
    wallMs,
    liveHeapMiB: Math.max(0, peakHeap - heapBefore) / 2 ** 20,
  }
}

export const variants = {
  /** A fresh ccxt instance per sync, with ccxt's defaults: it loads markets before its balance call. */
  naive: (args: Args) =>
    measure(args, async (index) => {
      const exchange = new ccxt.binance(credentials(index))
      const api = exchange.urls.api as Record<string, string>
      exchange.urls = {
        ...exchange.urls,
        api: Object.fromEntries(
          Object.entries(api).map(([key, url]) => [key, url.replace(/^https:\/\/[^/]+/, args.url)]),
        ),
      } as never
      const balance = await exchange.fetchBalance()
      if (!balance.total) throw new Error('no balance')
    }),
  /** createCcxtAdapter: pooled instances, keys per call, no markets, the raw response read as decimal strings. */
  adapter: (args: Args) => {
    const adapter = createCcxtAdapter('binance', { baseUrl: args.url })
    return measure(args, async (index) => {
      const result = await adapter.fetchBalances({
        connection,
        credentials: credentials(index),
        signal: AbortSignal.timeout(30_000),
      })
      if (result.balances.length === 0) throw new Error('no balance')
    })
  },
}

const file = import.meta.url

export const benchmark: Benchmark = {
  title: 'ccxt adapter vs a new ccxt.binance() per sync (real ccxt, fake exchange over HTTP)',
  async run() {
    const fake = await startFakeExchange({
      // Far above Binance's 6000: the naive way would be rate limited long before the end of the run.
      binance: { weightPerMinute: 100_000_000, sapiWeightPerMinute: 100_000_000 },
      accounts: Array.from({ length: ACCOUNTS }, (_, account) => ({
        exchange: 'binance' as const,
        apiKey: `bench-key-${account}`,
        secret: `bench-secret-${account}`,
        balances: [
          { asset: 'BTC', free: '98765432.12345678', used: '0.00000002' },
          { asset: 'ETH', free: `${account + 1}.5` },
          { asset: 'USDT', free: '1000' },
        ],
      })),
    })
    try {
      const results: Record<string, Awaited<ReturnType<typeof runVariant>>> = {}
      const traffic: Record<string, { requests: number; weight: number }> = {}
      for (const variant of ['naive', 'adapter'] as const) {
        fake.clearRequests()
        results[variant] = await runVariant(file, variant, { url: fake.url, live: false })
        // Every sync of the run, warm-up included: the first ones are where a fresh instance costs most.
        const requests = fake.requests
        if (requests.some((entry) => entry.status !== 200)) throw new Error(`${variant}: a request failed`)
        traffic[variant] = {
          requests: requests.length / (SYNCS + WARM_UP),
          // The pool X-MBX-USED-WEIGHT-1M reports and Binance limits to 6000 a minute per IP.
          weight:
            requests.filter((entry) => entry.path.startsWith('/api/')).reduce((sum, entry) => sum + entry.weight, 0) /
            (SYNCS + WARM_UP),
        }
        const live = await runVariant(file, variant, { url: fake.url, live: true })
        ;(results[variant] as Record<string, unknown>).liveHeapMiB = live.liveHeapMiB
      }
      const naive = results.naive as Awaited<ReturnType<typeof runVariant>>
      const ours = results.adapter as Awaited<ReturnType<typeof runVariant>>
      const cpu = (result: typeof naive) => result.cpuMsPerSync as number
      const rows = (
        [
          ['new ccxt.binance() per sync', naive, traffic.naive],
          ['createCcxtAdapter', ours, traffic.adapter],
        ] as const
      ).map(([name, result, load]) => [
        name,
        fixed(cpu(result), 2),
        ratio(cpu(result), cpu(naive)),
        fixed(load?.requests ?? 0, 1),
        fixed(load?.weight ?? 0, 0),
        fixed(result.liveHeapMiB as number, 1),
        fixed(result.peakRssMiB, 0),
        fixed((result.wallMs as number) / SYNCS, 1),
      ])
      return [
        table(
          [
            'variant',
            'CPU ms / sync',
            'CPU ratio',
            'requests / sync',
            'spot weight / sync',
            'live heap (MiB)',
            'peak RSS (MiB)',
            'wall ms / sync',
          ],
          rows,
        ),
        '',
        `${SYNCS} balance syncs of ${ACCOUNTS} Binance accounts at concurrency ${CONCURRENCY} after ${WARM_UP} untimed ones, each variant in its own process; the fake exchange runs in the parent, so CPU is the client side alone. ` +
          "The adapter's first syncs also build its pool: one ccxt instance per concurrent call (~8 ms each), once.",
        'Requests and weight per sync are counted by the fake exchange over every sync of the run, warm-up included; spot weight is the `/api/*` pool of X-MBX-USED-WEIGHT-1M (the naive way also spends `/sapi/*` weight on currencies and margin pairs). Live heap: the most the heap held above its starting level after a full GC, at twenty points of a separate, untimed run.',
        '',
        `The adapter sends ${fixed(traffic.adapter?.requests ?? 0, 1)} request per sync (naive: ${fixed(traffic.naive?.requests ?? 0, 1)}) and uses ${fixed(cpu(naive) / cpu(ours), 1)}x less CPU per sync. ` +
          `At Binance's real 6000 weight per minute, the naive way fits ${Math.floor(6000 / (traffic.naive?.weight ?? 1))} syncs a minute, the adapter ${Math.floor(6000 / (traffic.adapter?.weight ?? 1))}.`,
      ].join('\n')
    } finally {
      await fake.close()
    }
  },
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(await benchmark.run())
