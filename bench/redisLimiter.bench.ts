// What sharing the budgets costs: acquire + settle per second through the RedisLimiter (a real redis-server on
// this machine) against the in-process BudgetLimiter, with 1 and 8 clients asking at once.
import { fileURLToPath } from 'node:url'
import { BudgetLimiter, type ResolvedLimits, type SyncLimiter } from '@syncfolio/core'
import { startRedis } from '@syncfolio/testing/services'
import { Redis } from 'ioredis'
import { RedisLimiter } from '../packages/adapters/bullmq/src/limiter/index.js'
import { type Benchmark, fixed, ratio, runVariant, table } from './lib/harness.js'

const ROUNDS = 3
const ACCOUNTS = 10_000
const T0 = 1_700_000_000_000

/** Binance's shape (one clock-aligned budget per IP, usedWeight on every answer) plus OKX's per-account window. */
const LIMITS = new Map<string, ResolvedLimits>([
  [
    'binance',
    {
      cost: 1,
      budgets: [
        { scope: 'exchange', limit: 100_000_000, windowMs: 60_000, align: 'clock' },
        { scope: 'account', limit: 10, windowMs: 2_000 },
      ],
      concurrency: Number.POSITIVE_INFINITY,
    },
  ],
])

/** `clients` loops asking at once, each on a limiter of its own (a process of its own, for Redis). */
async function drive(limiters: SyncLimiter[], ops: number) {
  let next = 0
  let granted = 0
  const loop = async (limiter: SyncLimiter) => {
    while (next < ops) {
      const n = next++
      // Time runs at 20 asks a millisecond, so each account asks every 500 ms and its budget never refuses.
      const now = T0 + Math.floor(n / 20)
      const decision = await limiter.acquire({ exchange: 'binance', connectionId: `c${n % ACCOUNTS}`, now })
      if (!decision.granted) continue
      granted++
      await limiter.settle(decision.permit, { now, result: 'ok', usedWeight: granted })
    }
  }
  const started = performance.now()
  await Promise.all(limiters.map(loop))
  const seconds = (performance.now() - started) / 1000
  if (granted < ops * 0.99) throw new Error(`only ${granted} of ${ops} acquires were granted`)
  return { opsPerSecond: ops / seconds }
}

/** The floor under any Redis limiter: two round trips per sync, doing nothing. */
async function twoPings({ clients, ops, port }: { clients: number; ops: number; port: number }) {
  const connections = Array.from({ length: clients }, () => new Redis({ port, host: '127.0.0.1' }))
  try {
    let next = 0
    const started = performance.now()
    await Promise.all(
      connections.map(async (redis) => {
        while (next++ < ops) {
          await redis.ping()
          await redis.ping()
        }
      }),
    )
    return { opsPerSecond: ops / ((performance.now() - started) / 1000) }
  } finally {
    for (const redis of connections) redis.disconnect()
  }
}

export const variants = {
  twoPings,
  async budgetLimiter({ clients, ops }: { clients: number; ops: number }) {
    const limiter = new BudgetLimiter(LIMITS)
    return drive(
      Array.from({ length: clients }, () => limiter),
      ops,
    )
  },
  async redisLimiter({ clients, ops, port, prefix }: { clients: number; ops: number; port: number; prefix: string }) {
    const connections = Array.from({ length: clients }, () => new Redis({ port, host: '127.0.0.1' }))
    try {
      const limiters = connections.map((redis) => new RedisLimiter({ redis, limits: LIMITS, prefix }))
      return await drive(limiters, ops)
    } finally {
      for (const redis of connections) redis.disconnect()
    }
  },
}

const file = import.meta.url
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number

export const benchmark: Benchmark = {
  title: 'RedisLimiter: acquire + settle through Redis vs in process',
  async run() {
    const server = await startRedis()
    try {
      const rows: Array<Array<string | number>> = []
      const summary: string[] = []
      for (const clients of [1, 8]) {
        const local: number[] = []
        const shared: number[] = []
        const pings: number[] = []
        for (let round = 0; round < ROUNDS; round++) {
          const args = { clients, port: server.port, prefix: `bench${clients}r${round}` }
          local.push((await runVariant(file, 'budgetLimiter', { ...args, ops: 400_000 })).opsPerSecond as number)
          shared.push((await runVariant(file, 'redisLimiter', { ...args, ops: 40_000 })).opsPerSecond as number)
          pings.push((await runVariant(file, 'twoPings', { ...args, ops: 40_000 })).opsPerSecond as number)
        }
        const base = median(local)
        const ours = median(shared)
        rows.push([
          `BudgetLimiter (in process), ${clients} at once`,
          ...local.map((ops) => fixed(ops, 0)),
          fixed(base, 0),
          '1.00x',
        ])
        rows.push([
          `RedisLimiter, ${clients} ioredis ${clients === 1 ? 'client' : 'clients'}`,
          ...shared.map((ops) => fixed(ops, 0)),
          fixed(ours, 0),
          ratio(base, ours),
        ])
        rows.push([
          `two PINGs per sync (the round trips alone), ${clients} at once`,
          ...pings.map((ops) => fixed(ops, 0)),
          fixed(median(pings), 0),
          ratio(base, median(pings)),
        ])
        summary.push(
          `${clients} at once: ${fixed(ours / base, 4)}x (${ratio(base, ours)} slower), ${ratio(ours, median(pings))} of two bare round trips`,
        )
      }
      return [
        table(
          [
            'variant',
            ...Array.from({ length: ROUNDS }, (_, round) => `acquire + settle / s, run ${round + 1}`),
            'median',
            'in-process ÷ variant',
          ],
          rows,
        ),
        '',
        `One clock-aligned exchange budget (settled with usedWeight, as Binance answers) and a sliding budget per account over ${ACCOUNTS.toLocaleString('en-US')} accounts; ` +
          `a local redis-server; ${ROUNDS} runs per variant, each in a process of its own, the variants alternating.`,
        `RedisLimiter throughput as a share of the in-process limiter's: ${summary.join('; ')}. Each sync makes two round trips (two scripts).`,
      ].join('\n')
    } finally {
      await server.stop()
    }
  },
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(await benchmark.run())
