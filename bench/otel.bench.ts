// The cost of instrumentScheduler: the no-op 100,000-connection sweep of scheduler.bench.ts, with and without
// OpenTelemetry metrics recorded into a real MeterProvider, CPU per sync side by side.
import { fileURLToPath } from 'node:url'
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics'
import { type ExchangeAdapter, MemoryStore, SyncScheduler } from '@syncfolio/core'
import { instrumentScheduler } from '@syncfolio/otel'
import { type Benchmark, fixed, ratio, runVariant, table } from './lib/harness.js'

const BALANCES = [{ asset: 'BTC', free: '0.10000000', used: '0', total: '0.10000000' }]
// Five rounds: one process's CPU per sync varies by a few percent, as much as the goal allows in all.
const ROUNDS = 5

/** A reader collected from once, after the sweep, as a Prometheus scrape would. */
class ScrapeReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/** N connections synced two minutes ago, due a minute ago: the sweep observes each one's age too. */
async function populate(count: number): Promise<MemoryStore> {
  const store = new MemoryStore()
  const then = Date.now() - 120_000
  for (let n = 0; n < count; n++) {
    const { id } = await store.add({
      userId: `user-${n % 10_000}`,
      exchange: 'binance',
      credentials: { apiKey: `key-${n}`, secret: `secret-${n}` },
    })
    await store.recordSuccess(id, { balances: BALANCES, startedAt: then, finishedAt: then, nextSyncAt: then + 60_000 })
  }
  return store
}

type Mode = 'bare' | 'listeners' | 'sdk' | 'instrumented'

async function sweep({ count, mode }: { count: number; mode: Mode }) {
  const store = await populate(count)
  let calls = 0
  const adapter: ExchangeAdapter = {
    id: 'binance',
    async fetchBalances() {
      calls++
      return { balances: BALANCES }
    },
  }
  const scheduler = new SyncScheduler({
    store,
    exchanges: [adapter],
    concurrency: 5,
    limits: { binance: { budgets: [] } },
  })
  const reader = new ScrapeReader()
  const provider = new MeterProvider({ readers: [reader] })
  if (mode === 'instrumented') instrumentScheduler(scheduler, { meter: provider.getMeter('syncfolio') })
  // The floor: the same two histogram records per sync, straight from listeners with fixed attributes. What is
  // left between this and instrumentScheduler is instrumentScheduler's own work.
  if (mode === 'sdk') {
    const meter = provider.getMeter('syncfolio')
    const duration = meter.createHistogram('syncfolio.sync.duration', { unit: 's' })
    const age = meter.createHistogram('syncfolio.connection.age', { unit: 's' })
    const outcome = { 'syncfolio.exchange': 'binance', 'syncfolio.trigger': 'sweep', 'syncfolio.outcome': 'ok' }
    const exchange = { 'syncfolio.exchange': 'binance' }
    scheduler.on('sync:start', () => age.record(120, exchange))
    scheduler.on('sync:success', (event) => duration.record((event.finishedAt - event.startedAt) / 1000, outcome))
  }
  // Empty listeners on the events instrumentScheduler listens to: what the scheduler spends emitting them.
  if (mode === 'listeners') {
    for (const event of ['sync:start', 'sync:success', 'sync:failure', 'ratelimit', 'connection:disabled'] as const) {
      scheduler.on(event, () => {})
    }
  }
  globalThis.gc?.()
  const cpu = process.cpuUsage()
  await scheduler.runOnce()
  const used = process.cpuUsage(cpu)
  if (calls !== count) throw new Error(`synced ${calls} of ${count}`)
  // Prove the instrumented run recorded every sync (and the bare one nothing).
  const { resourceMetrics } = await reader.collect()
  const durations = resourceMetrics.scopeMetrics
    .flatMap((scope) => scope.metrics)
    .filter((metric) => metric.descriptor.name === 'syncfolio.sync.duration')
    .flatMap((metric) => metric.dataPoints as ReadonlyArray<{ value: unknown }>)
    .reduce((sum: number, point) => sum + (point.value as { count: number }).count, 0)
  if (durations !== (mode === 'instrumented' || mode === 'sdk' ? count : 0))
    throw new Error(`recorded ${durations} durations of ${count} syncs`)
  return { sweepCpuMs: (used.user + used.system) / 1000 }
}

export const variants = {
  bare: (args: { count: number }) => sweep({ ...args, mode: 'bare' }),
  listeners: (args: { count: number }) => sweep({ ...args, mode: 'listeners' }),
  sdk: (args: { count: number }) => sweep({ ...args, mode: 'sdk' }),
  instrumented: (args: { count: number }) => sweep({ ...args, mode: 'instrumented' }),
}

const file = import.meta.url
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number

export const benchmark: Benchmark = {
  title: 'instrumentScheduler overhead (no-op adapter)',
  async run() {
    const count = 100_000
    const modes: Array<[Mode, string]> = [
      ['bare', 'SyncScheduler.runOnce'],
      ['listeners', 'SyncScheduler.runOnce + empty listeners on the same events'],
      ['sdk', 'SyncScheduler.runOnce + two histogram records per sync, fixed attributes (SDK floor)'],
      ['instrumented', 'SyncScheduler.runOnce + instrumentScheduler'],
    ]
    const runs = new Map<Mode, number[]>(modes.map(([mode]) => [mode, []]))
    // Alternate the variants, so a noisy moment of the machine falls on each.
    for (let round = 0; round < ROUNDS; round++) {
      for (const [mode] of modes) {
        runs.get(mode)?.push(((await runVariant(file, mode, { count })).sweepCpuMs as number) / count)
      }
    }
    const medianOf = (mode: Mode) => median(runs.get(mode) ?? [])
    const base = medianOf('bare')
    const ours = medianOf('instrumented')
    const rows = modes.map(([mode, name]) => [
      name,
      ...(runs.get(mode) ?? []).map((ms) => fixed(ms * 1000, 2)),
      fixed(medianOf(mode) * 1000, 2),
      ratio(medianOf(mode), base),
    ])
    return [
      table(
        [
          'variant',
          ...Array.from({ length: ROUNDS }, (_, round) => `CPU µs / sync, run ${round + 1}`),
          'median',
          'CPU ratio',
        ],
        rows,
      ),
      '',
      `${count.toLocaleString('en-US')} connections synced two minutes before, one sweep per process, each run in a process of its own, the variants alternating.`,
      'The instrumented run records a sync duration and a connection age per sync into a real MeterProvider (collected once afterwards, not timed).',
      '',
      `CPU per sync with instrumentScheduler: ${ratio(ours, base)} of the bare scheduler (goal: at most 1.05x); ` +
        `${ratio(medianOf('listeners'), base)} is the scheduler emitting the events at all, ${ratio(medianOf('sdk'), base)} the OpenTelemetry SDK ` +
        `recording two histograms per sync (it hashes the attributes on every record), and instrumentScheduler itself ` +
        `${ratio(ours, medianOf('sdk'))} of that floor.`,
    ].join('\n')
  },
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(await benchmark.run())
