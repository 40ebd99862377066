// The scheduler against the sweep a host app writes by hand today (cron + p-limit(5) + Promise.allSettled),
// over a MemoryStore of N connections and a no-op adapter: CPU per sync and the memory a sweep adds.
import { fileURLToPath } from 'node:url'
import { type ExchangeAdapter, MemoryStore, SyncScheduler } from '@syncfolio/core'
import pLimit from 'p-limit'
import { type Benchmark, fixed, ratio, runVariant, table } from './lib/harness.js'

const BALANCES = [{ asset: 'BTC', free: '0.10000000', used: '0', total: '0.10000000' }]

async function populate(count: number): Promise<MemoryStore> {
  const store = new MemoryStore()
  for (let n = 0; n < count; n++) {
    await store.add({
      userId: `user-${n % 10_000}`,
      exchange: 'binance',
      credentials: { apiKey: `key-${n}`, secret: `secret-${n}` },
    })
  }
  return store
}

/**
 * A no-op exchange. In `live` mode it also runs a full GC twenty times during the sweep and samples the heap, so
 * the peak is of what the sweep keeps alive, not of garbage waiting for collection (those runs are not timed).
 */
function sampler(count: number, live: boolean) {
  let calls = 0
  let peakHeap = 0
  const every = Math.max(1, Math.floor(count / 20))
  const adapter: ExchangeAdapter = {
    id: 'binance',
    async fetchBalances() {
      if (live && ++calls % every === 0) {
        globalThis.gc?.()
        peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed)
      } else if (!live) calls++
      return { balances: BALANCES }
    },
  }
  return { adapter, calls: () => calls, peakHeap: () => peakHeap }
}

async function measure(
  { count, live }: { count: number; live: boolean },
  sweep: (store: MemoryStore, adapter: ExchangeAdapter) => Promise<unknown>,
) {
  const store = await populate(count)
  const probe = sampler(count, live)
  globalThis.gc?.()
  const heapBefore = process.memoryUsage().heapUsed
  const cpu = process.cpuUsage()
  const started = performance.now()
  await sweep(store, probe.adapter)
  const wallMs = performance.now() - started
  const used = process.cpuUsage(cpu)
  if (probe.calls() !== count) throw new Error(`synced ${probe.calls()} of ${count}`)
  return {
    sweepCpuMs: (used.user + used.system) / 1000,
    wallMs,
    sweepHeapMiB: Math.max(0, probe.peakHeap() - heapBefore) / 2 ** 20,
  }
}

export const variants = {
  /** What a host app writes today: load every connection, one promise each, p-limit(5), allSettled. */
  naive: (args: { count: number; live: boolean }) =>
    measure(args, async (store, adapter) => {
      const limit = pLimit(5)
      const now = Date.now()
      const connections = await store.listDue(now, Number.MAX_SAFE_INTEGER)
      await Promise.allSettled(
        connections.map((connection) =>
          limit(async () => {
            const credentials = await store.getCredentials(connection.id)
            if (!credentials) return
            const startedAt = Date.now()
            const { balances } = await adapter.fetchBalances({
              connection,
              credentials,
              signal: AbortSignal.timeout(30_000),
            })
            const finishedAt = Date.now()
            await store.recordSuccess(connection.id, {
              balances,
              startedAt,
              finishedAt,
              nextSyncAt: finishedAt + 60_000,
            })
          }),
        ),
      )
    }),
  syncfolio: (args: { count: number; live: boolean }) =>
    measure(args, async (store, adapter) => {
      // No budget: this measures the scheduler's own cost, not the wait for Binance's weight limit.
      const scheduler = new SyncScheduler({
        store,
        exchanges: [adapter],
        concurrency: 5,
        limits: { binance: { budgets: [] } },
      })
      await scheduler.runOnce()
    }),
}

const file = import.meta.url

export const benchmark: Benchmark = {
  title: 'Scheduler vs the hand-written sweep (no-op adapter)',
  async run() {
    const rows: string[][] = []
    const summary: string[] = []
    for (const count of [10_000, 100_000]) {
      const naive = await runVariant(file, 'naive', { count, live: false })
      const ours = await runVariant(file, 'syncfolio', { count, live: false })
      naive.sweepHeapMiB = (await runVariant(file, 'naive', { count, live: true })).sweepHeapMiB as number
      ours.sweepHeapMiB = (await runVariant(file, 'syncfolio', { count, live: true })).sweepHeapMiB as number
      const perSync = (result: typeof naive) => ((result.sweepCpuMs as number) * 1000) / count
      for (const [name, result] of [
        ['naive p-limit(5) + allSettled', naive],
        ['SyncScheduler.runOnce', ours],
      ] as const) {
        rows.push([
          count.toLocaleString('en-US'),
          name,
          fixed(perSync(result), 1),
          ratio(perSync(result), perSync(naive)),
          fixed(result.sweepHeapMiB as number, 1),
          fixed(result.peakRssMiB, 0),
          ratio(result.peakRssMiB, naive.peakRssMiB),
        ])
      }
      summary.push(
        `${count.toLocaleString('en-US')} connections: CPU per sync ${ratio(perSync(ours), perSync(naive))} of the naive sweep, ` +
          `heap added by the sweep ${fixed(ours.sweepHeapMiB as number, 1)} MiB vs ${fixed(naive.sweepHeapMiB as number, 1)} MiB.`,
      )
    }
    return [
      table(
        [
          'connections',
          'variant',
          'CPU µs / sync',
          'CPU ratio',
          'live heap added by sweep (MiB)',
          'peak RSS (MiB)',
          'RSS ratio',
        ],
        rows,
      ),
      '',
      'Each variant runs in its own process over the same MemoryStore (populated first, then a GC) and a no-op adapter; CPU is the sweep alone.',
      'Live heap added: the most the heap held above its pre-sweep level, measured after a full GC at twenty points of a separate, untimed run.',
      'It includes the balances the sweep writes into the store (the same for both). Peak RSS includes the store itself.',
      '',
      ...summary,
    ].join('\n')
  },
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(await benchmark.run())
