// Rate-limit fidelity and head-of-line blocking, against the loops a host app writes by hand.
import { fileURLToPath } from 'node:url'
import { type ExchangeAdapter, MemoryStore, SyncError, SyncScheduler } from '@syncfolio/core'
import pLimit from 'p-limit'
import PQueue from 'p-queue'
import { type Benchmark, fixed, ratio, runVariant, table } from './lib/harness.js'

interface ExchangeSpec {
  id: string
  /** Weight per fixed, clock-aligned window the exchange allows before answering 429. */
  limit: number
  windowMs: number
  cost: number
  latencyMs: number
  /** Calls never answer. */
  hang?: boolean
}

/** A Binance-like exchange in process: counts weight per aligned window as Binance does, 429 + Retry-After past it. */
function budgetedExchange(spec: ExchangeSpec) {
  let windowStart = 0
  let used = 0
  const stats = { requests: 0, rejected: 0, acceptedWeight: 0, lastAnswerAt: 0 }
  const adapter: ExchangeAdapter = {
    id: spec.id,
    fetchBalances: ({ signal }) => {
      stats.requests++
      if (spec.hang) return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)))
      const now = Date.now()
      const current = now - (now % spec.windowMs)
      if (current !== windowStart) {
        windowStart = current
        used = 0
      }
      used += spec.cost
      const over = used > spec.limit
      if (over) stats.rejected++
      else stats.acceptedWeight += spec.cost
      return new Promise((resolve, reject) =>
        setTimeout(() => {
          stats.lastAnswerAt = Date.now()
          if (over) {
            const retryAfterMs = windowStart + spec.windowMs - now
            reject(new SyncError('RATE_LIMITED', '429 Too Many Requests', { retryAfterMs, scope: 'exchange' }))
          } else resolve({ balances: [{ asset: 'BTC', free: '1', used: '0', total: '1' }] })
        }, spec.latencyMs),
      )
    },
  }
  return { adapter, stats }
}

/**
 * A Binance-like exchange whose budget another consumer of the same IP (the host's trading bot) also spends: the
 * bot takes `share` of each aligned window, evenly over it, and is visible only through the used-weight count each
 * answer carries, as `X-MBX-USED-WEIGHT-1M` is.
 */
function sharedExchange(spec: ExchangeSpec, share: number) {
  let windowStart = 0
  let used = 0
  let botSpent = 0
  /** Our accepted weight per window: with the bot's whole share on top, over the limit means the bot got 429s. */
  const ownByWindow = new Map<number, number>()
  const stats = { requests: 0, rejected: 0, acceptedWeight: 0, lastAnswerAt: 0, firstAt: 0, botSqueezed: 0 }
  const roll = (now: number) => {
    const current = now - (now % spec.windowMs)
    if (current !== windowStart) {
      windowStart = current
      used = 0
      botSpent = 0
    }
    const botDue = Math.floor(((now - current) / spec.windowMs) * share * spec.limit)
    if (botDue > botSpent) {
      used += botDue - botSpent
      botSpent = botDue
    }
  }
  const adapter: ExchangeAdapter = {
    id: spec.id,
    fetchBalances: () => {
      const now = Date.now()
      if (stats.requests++ === 0) stats.firstAt = now
      roll(now)
      const over = used + spec.cost > spec.limit
      if (over) stats.rejected++
      else {
        used += spec.cost
        stats.acceptedWeight += spec.cost
        ownByWindow.set(windowStart, (ownByWindow.get(windowStart) ?? 0) + spec.cost)
      }
      const usedWeight = used
      return new Promise((resolve, reject) =>
        setTimeout(() => {
          stats.lastAnswerAt = Date.now()
          if (over) {
            const retryAfterMs = windowStart + spec.windowMs - now
            reject(new SyncError('RATE_LIMITED', '429 Too Many Requests', { retryAfterMs, scope: 'exchange' }))
          } else resolve({ balances: [{ asset: 'BTC', free: '1', used: '0', total: '1' }], usage: { usedWeight } })
        }, spec.latencyMs),
      )
    },
  }
  /** Own weight over what the bot leaves, in every window but the last (which the sweep may not need whole). */
  const fullUse = () => {
    const own = [...ownByWindow.values()].slice(0, -1)
    const total = own.reduce((sum, weight) => sum + weight, 0)
    return own.length === 0 ? 0 : total / (own.length * spec.limit * (1 - share))
  }
  const squeezed = () => {
    let windows = 0
    for (const own of ownByWindow.values()) if (own + share * spec.limit > spec.limit) windows++
    return windows
  }
  return { adapter, stats, squeezed, fullUse }
}

/**
 * An OKX-like exchange: 10 balance calls per 2 s per account (counted per user, in windows aligned to the clock),
 * and a few accounts that answer their first call with 429 and Retry-After, as OKX's 50011 does.
 */
function okxExchange(refusing: ReadonlySet<string>) {
  const windows = new Map<string, { start: number; used: number }>()
  const refused = new Set<string>()
  const stats = { requests: 0, rejected: 0, lastAnswerAt: 0 }
  const adapter: ExchangeAdapter = {
    id: 'okx',
    fetchBalances: ({ credentials }) => {
      stats.requests++
      const now = Date.now()
      const key = credentials.apiKey
      const start = now - (now % 2_000)
      const window = windows.get(key)
      const count = window && window.start === start ? window.used + 1 : 1
      windows.set(key, { start, used: count })
      const first = refusing.has(key) && !refused.has(key)
      if (first) refused.add(key)
      const over = count > 10 || first
      if (over) stats.rejected++
      return new Promise((resolve, reject) =>
        setTimeout(() => {
          stats.lastAnswerAt = Date.now()
          if (over) {
            const error = new SyncError('RATE_LIMITED', '50011 Too Many Requests', {
              retryAfterMs: 2_000,
              scope: 'account',
            })
            reject(error)
          } else resolve({ balances: [{ asset: 'BTC', free: '1', used: '0', total: '1' }] })
        }, 50),
      )
    },
  }
  return { adapter, stats, planned: refusing.size }
}

/** One syncfolio sweep over one exchange with the spec's budget, 5 slots as the other contestants have. */
async function sweepWithSyncfolio(
  store: MemoryStore,
  adapter: ExchangeAdapter,
  spec: ExchangeSpec,
  align: 'clock' | 'sliding',
): Promise<void> {
  const budget = { scope: 'exchange' as const, limit: spec.limit, windowMs: spec.windowMs, align }
  const scheduler = new SyncScheduler({
    store,
    exchanges: [adapter],
    concurrency: 5,
    limits: { [spec.id]: { cost: spec.cost, budgets: [budget] } },
  })
  await scheduler.runOnce()
}

async function storeWith(counts: Record<string, number>): Promise<MemoryStore> {
  const store = new MemoryStore()
  for (const [exchange, count] of Object.entries(counts)) {
    for (let n = 0; n < count; n++) {
      await store.add({
        userId: `${exchange}-${n}`,
        exchange,
        credentials: { apiKey: `k-${exchange}-${n}`, secret: 's' },
      })
    }
  }
  return store
}

/** Calls the adapter for every due connection through `run`, the way a host's cron job does, with a timeout. */
async function handWritten(
  store: MemoryStore,
  adapters: ExchangeAdapter[],
  run: (task: () => Promise<void>) => Promise<void>,
  timeoutMs: number,
): Promise<void> {
  const byId = new Map(adapters.map((adapter) => [adapter.id, adapter]))
  const connections = await store.listDue(Date.now(), Number.MAX_SAFE_INTEGER)
  // AbortSignal.timeout does not keep the process alive; a host app's server would.
  const keepAlive = setInterval(() => {}, 1_000)
  await Promise.allSettled(
    connections.map((connection) =>
      run(async () => {
        const credentials = await store.getCredentials(connection.id)
        const adapter = byId.get(connection.exchange)
        if (!credentials || !adapter) return
        await adapter.fetchBalances({ connection, credentials, signal: AbortSignal.timeout(timeoutMs) })
      }),
    ),
  )
  clearInterval(keepAlive)
}

const FIDELITY: ExchangeSpec = { id: 'binance', limit: 1_200, windowMs: 1_000, cost: 20, latencyMs: 50 }
const FIDELITY_CONNECTIONS = 2_000
const HEALTHY: ExchangeSpec = { id: 'healthy', limit: 600, windowMs: 1_000, cost: 20, latencyMs: 50 }
const HANGING: ExchangeSpec = { id: 'hanging', limit: 600, windowMs: 1_000, cost: 20, latencyMs: 50, hang: true }
const HOL_TIMEOUT_MS = 2_000
const SHARED: ExchangeSpec = { id: 'binance', limit: 1_200, windowMs: 1_000, cost: 20, latencyMs: 50 }
const SHARED_CONNECTIONS = 300
const MIXED_BINANCE: ExchangeSpec = { id: 'binance', limit: 1_200, windowMs: 1_000, cost: 20, latencyMs: 50 }
const MIXED_CONNECTIONS = 300

export const variants = {
  async fidelity({ variant }: { variant: 'syncfolio' | 'naive' | 'p-queue' }) {
    const exchange = budgetedExchange(FIDELITY)
    const store = await storeWith({ binance: FIDELITY_CONNECTIONS })
    const started = Date.now()
    if (variant === 'syncfolio') {
      await sweepWithSyncfolio(store, exchange.adapter, FIDELITY, 'sliding')
    } else if (variant === 'naive') {
      await handWritten(store, [exchange.adapter], pLimit(5), 30_000)
    } else {
      const queue = new PQueue({
        concurrency: 5,
        intervalCap: FIDELITY.limit / FIDELITY.cost,
        interval: FIDELITY.windowMs,
      })
      await handWritten(store, [exchange.adapter], (task) => queue.add(task), 30_000)
    }
    const sweepMs = exchange.stats.lastAnswerAt - started
    return { sweepMs, ...exchange.stats }
  },

  async shared({ variant, share }: { variant: 'syncfolio' | 'naive' | 'p-queue'; share: number }) {
    const exchange = sharedExchange(SHARED, share)
    const store = await storeWith({ binance: SHARED_CONNECTIONS })
    // Start mid-window, as a host restarts while its bot runs; each variant starts at the same phase.
    await new Promise((resolve) => setTimeout(resolve, 1_000 - (Date.now() % 1_000) + 400))
    if (variant === 'syncfolio') {
      await sweepWithSyncfolio(store, exchange.adapter, SHARED, 'clock')
    } else if (variant === 'naive') {
      await handWritten(store, [exchange.adapter], pLimit(5), 30_000)
    } else {
      const queue = new PQueue({ concurrency: 5, intervalCap: SHARED.limit / SHARED.cost, interval: SHARED.windowMs })
      await handWritten(store, [exchange.adapter], (task) => queue.add(task), 30_000)
    }
    const { firstAt, lastAnswerAt } = exchange.stats
    const firstWindow = firstAt - (firstAt % SHARED.windowMs)
    return {
      ...exchange.stats,
      // From the start of the first window: that window's budget was there to use from its start.
      sweepMs: lastAnswerAt - firstWindow,
      windows: Math.floor(lastAnswerAt / SHARED.windowMs) - Math.floor(firstAt / SHARED.windowMs) + 1,
      botSqueezed: exchange.squeezed(),
      fullUse: exchange.fullUse(),
    }
  },

  async mixed({ variant }: { variant: 'syncfolio' | 'naive' | 'p-queue' }) {
    const binance = budgetedExchange(MIXED_BINANCE)
    const refusing = new Set(Array.from({ length: 10 }, (_, n) => `k-okx-${n * 30}`))
    const okx = okxExchange(refusing)
    const store = await storeWith({ binance: MIXED_CONNECTIONS, okx: MIXED_CONNECTIONS })
    const started = Date.now()
    if (variant === 'syncfolio') {
      const scheduler = new SyncScheduler({
        store,
        exchanges: [binance.adapter, okx.adapter],
        concurrency: 10,
        limits: {
          binance: {
            cost: MIXED_BINANCE.cost,
            budgets: [
              { scope: 'exchange', limit: MIXED_BINANCE.limit, windowMs: MIXED_BINANCE.windowMs, align: 'clock' },
            ],
          },
        },
      })
      await scheduler.runOnce()
    } else if (variant === 'naive') {
      await handWritten(store, [binance.adapter, okx.adapter], pLimit(10), 30_000)
    } else {
      // The usual p-queue setup: one queue per exchange, Binance's interval cap from its weight budget.
      const queues = {
        binance: new PQueue({
          concurrency: 5,
          intervalCap: MIXED_BINANCE.limit / MIXED_BINANCE.cost,
          interval: MIXED_BINANCE.windowMs,
        }),
        okx: new PQueue({ concurrency: 5 }),
      }
      await Promise.all([
        handWritten(store, [binance.adapter], (task) => queues.binance.add(task), 30_000),
        handWritten(store, [okx.adapter], (task) => queues.okx.add(task), 30_000),
      ])
    }
    return {
      binanceRejected: binance.stats.rejected,
      okxRejected: okx.stats.rejected - okx.planned,
      sweepMs: Math.max(binance.stats.lastAnswerAt, okx.stats.lastAnswerAt) - started,
      binanceMs: binance.stats.lastAnswerAt - started,
      binanceWeight: binance.stats.acceptedWeight,
    }
  },

  async headOfLine({ variant, withHanging }: { variant: 'syncfolio' | 'naive'; withHanging: boolean }) {
    const healthy = budgetedExchange(HEALTHY)
    const hanging = budgetedExchange(HANGING)
    const adapters = withHanging ? [healthy.adapter, hanging.adapter] : [healthy.adapter]
    const store = await storeWith(withHanging ? { healthy: 300, hanging: 100 } : { healthy: 300 })
    const started = Date.now()
    if (variant === 'syncfolio') {
      const budget = { cost: 20, budgets: [{ scope: 'exchange' as const, limit: 600, windowMs: 1_000 }] }
      const scheduler = new SyncScheduler({
        store,
        exchanges: adapters,
        concurrency: 5,
        timeoutMs: HOL_TIMEOUT_MS,
        limits: { healthy: budget, hanging: budget },
      })
      await scheduler.runOnce()
    } else {
      await handWritten(store, adapters, pLimit(5), HOL_TIMEOUT_MS)
    }
    return { healthyMs: healthy.stats.lastAnswerAt - started, healthyRejected: healthy.stats.rejected }
  },
}

const file = import.meta.url

export const benchmark: Benchmark = {
  title: 'Rate limits: budget fidelity and head-of-line blocking',
  async run() {
    const theoreticalMs = ((FIDELITY_CONNECTIONS * FIDELITY.cost) / FIDELITY.limit) * FIDELITY.windowMs
    const fidelityRows: string[][] = []
    for (const [name, variant] of [
      ['syncfolio SyncScheduler', 'syncfolio'],
      ['naive p-limit(5) sweep', 'naive'],
      [`p-queue intervalCap ${FIDELITY.limit / FIDELITY.cost} / ${FIDELITY.windowMs} ms`, 'p-queue'],
    ] as const) {
      const result = await runVariant(file, 'fidelity', { variant })
      const sweepMs = result.sweepMs as number
      const windows = Math.ceil(sweepMs / FIDELITY.windowMs)
      fidelityRows.push([
        name,
        String(result.rejected),
        `${fixed((100 * (result.acceptedWeight as number)) / (FIDELITY.limit * windows), 1)}%`,
        fixed(sweepMs / 1000, 1),
        fixed(sweepMs / theoreticalMs, 3),
      ])
    }

    const sharedRows: string[][] = []
    for (const share of [0, 0.2, 0.4]) {
      const left = SHARED.limit * (1 - share)
      const minimumMs = ((SHARED_CONNECTIONS * SHARED.cost) / left) * SHARED.windowMs
      for (const [name, variant] of [
        ['syncfolio SyncScheduler', 'syncfolio'],
        ['naive p-limit(5) sweep', 'naive'],
        [`p-queue intervalCap ${SHARED.limit / SHARED.cost} / ${SHARED.windowMs} ms`, 'p-queue'],
      ] as const) {
        const result = await runVariant(file, 'shared', { variant, share })
        const sweepMs = result.sweepMs as number
        sharedRows.push([
          `${share * 100}%`,
          name,
          String(result.rejected),
          String(result.botSqueezed),
          `${fixed(100 * (result.fullUse as number), 1)}%`,
          fixed(sweepMs / 1000, 2),
          fixed(sweepMs / minimumMs, 3),
        ])
      }
    }

    const mixedRows: string[][] = []
    const binanceMinimumMs = ((MIXED_CONNECTIONS * MIXED_BINANCE.cost) / MIXED_BINANCE.limit) * MIXED_BINANCE.windowMs
    for (const [name, variant] of [
      ['syncfolio SyncScheduler', 'syncfolio'],
      ['naive p-limit(10) sweep', 'naive'],
      ['p-queue per exchange (Binance intervalCap 60 / 1000 ms)', 'p-queue'],
    ] as const) {
      const result = await runVariant(file, 'mixed', { variant })
      mixedRows.push([
        name,
        String(result.binanceRejected),
        String(result.okxRejected),
        fixed((result.binanceMs as number) / 1000, 2),
        fixed((result.binanceMs as number) / binanceMinimumMs, 3),
        fixed((result.sweepMs as number) / 1000, 2),
      ])
    }

    const holRows: string[][] = []
    for (const [name, variant] of [
      ['syncfolio SyncScheduler', 'syncfolio'],
      ['naive p-limit(5) sweep', 'naive'],
    ] as const) {
      const alone = await runVariant(file, 'headOfLine', { variant, withHanging: false })
      const beside = await runVariant(file, 'headOfLine', { variant, withHanging: true })
      holRows.push([
        name,
        fixed((alone.healthyMs as number) / 1000, 2),
        fixed((beside.healthyMs as number) / 1000, 2),
        ratio(beside.healthyMs as number, alone.healthyMs as number),
        `${alone.healthyRejected} / ${beside.healthyRejected}`,
      ])
    }

    return [
      `### Budget fidelity: ${FIDELITY_CONNECTIONS.toLocaleString('en-US')} connections, one Binance-like exchange`,
      '',
      table(['variant', '429s received', 'budget used', 'sweep (s)', 'sweep / theoretical minimum'], fidelityRows),
      '',
      `The exchange allows ${FIDELITY.limit} weight per ${FIDELITY.windowMs} ms window (aligned to the clock, as Binance counts), a balance call costs ${FIDELITY.cost} and answers after ${FIDELITY.latencyMs} ms; past the limit it answers 429 with Retry-After.`,
      `Theoretical minimum: N x cost / budget = ${fixed(theoreticalMs / 1000, 1)} s. Budget used: accepted weight over the budget of every window the sweep touched. All variants run 5 calls at once.`,
      '',
      `### A budget shared with the host's own trading bot: ${SHARED_CONNECTIONS} connections`,
      '',
      table(
        [
          'bot share',
          'variant',
          '429s received',
          "windows it took the bot's share of",
          'budget left to it used',
          'sweep (s)',
          'sweep / minimum the rest allows',
        ],
        sharedRows,
      ),
      '',
      `The exchange allows ${SHARED.limit} weight per ${SHARED.windowMs} ms window aligned to the clock; a bot on the same IP spends the given share of every window evenly, seen only through the used-weight count of each answer. Calls cost ${SHARED.cost} and take ${SHARED.latencyMs} ms. Minimum: N x cost / (budget left by the bot), against the sweep's time from the start of its first window. Budget used: accepted weight over what the bot leaves, in every window the sweep touched but the last (which it needs only in part). A window whose own weight plus the bot's share passes the limit is one where the bot met 429s. Every variant starts 400 ms into a window.`,
      '',
      `### Binance and OKX together: ${MIXED_CONNECTIONS} connections each`,
      '',
      table(
        [
          'variant',
          'Binance 429s',
          'OKX 429s (beyond the 10 planned)',
          'Binance sweep (s)',
          'Binance sweep / minimum',
          'whole sweep (s)',
        ],
        mixedRows,
      ),
      '',
      `Binance: ${MIXED_BINANCE.limit} weight per ${MIXED_BINANCE.windowMs} ms aligned window, cost ${MIXED_BINANCE.cost}, 50 ms calls (minimum ${fixed(binanceMinimumMs / 1000, 1)} s). OKX: 10 calls per 2 s per account, 50 ms calls; ten accounts answer their first call with 429 and a 2 s Retry-After (planned, not counted). syncfolio runs both on its built-in OKX limits and 10 slots; the others as a host would write them.`,
      '',
      '### Head-of-line: a healthy exchange beside one whose calls hang',
      '',
      table(
        [
          'variant',
          'healthy sweep alone (s)',
          'beside the hanging exchange (s)',
          'ratio',
          "healthy exchange's 429s (alone / beside)",
        ],
        holRows,
      ),
      '',
      `Healthy: 300 connections, ${HEALTHY.limit} weight per second at cost 20 (30 syncs/s), ${HEALTHY.latencyMs} ms calls. Hanging: 100 connections whose calls never answer, cut off at ${HOL_TIMEOUT_MS} ms. Concurrency 5 in both.`,
      'What syncfolio loses beside the hanging exchange is a fixed shift, not pace: until the first calls time out the hanging exchange holds its fair 2 of 5 slots, so the first 30 grants spread over about 0.5 s instead of 0.3 s, and a sliding window repeats that spacing one window later each time. After two timeouts the hanging exchange keeps a single slot.',
    ].join('\n')
  },
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(await benchmark.run())
