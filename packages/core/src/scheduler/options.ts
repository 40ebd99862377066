import { z } from 'zod'
import { InvalidOptionError } from '../errors/invalidOptionError.js'
import { fn, positiveInt, withMethods } from '../errors/optionSchemas.js'
import { parseOptions, withoutUndefined } from '../errors/parseOptions.js'
import {
  type ExchangeLimits,
  type ResolvedLimits,
  resolveLimits,
  usesFallbackLimits,
} from '../limits/exchangeLimits.js'
import type { SyncLimiter } from '../limits/syncLimiter.js'
import type { SyncStore } from '../store/syncStore.js'
import type { ExchangeAdapter } from '../types.js'
import { type Clock, systemClock } from './clock.js'
import type { SchedulerLogger } from './events.js'

export type { Budget, ExchangeLimits } from '../limits/exchangeLimits.js'

export interface SyncSchedulerOptions {
  /** Where connections, credentials and balances live. */
  store: SyncStore
  /** One adapter per exchange, keyed by `adapter.id`. */
  exchanges: ExchangeAdapter[]
  /** Each active connection is synced about once per interval. @default 60_000 */
  intervalMs?: number
  /** Most syncs in flight at once, across every exchange. @default 5 */
  concurrency?: number
  /**
   * Per-exchange limits, keyed by adapter id, merged field by field over the built-in defaults (binance: cost 20,
   * 6,000 per minute per IP; okx: cost 1, 10 per 2 s per account). An exchange with neither gets 60 per minute and a
   * one-time `warning` event. @default {}
   */
  limits?: Record<string, ExchangeLimits>
  /** A sync still running after this long is aborted and fails with `TIMEOUT`. @default 30_000 */
  timeoutMs?: number
  /**
   * A store call that has not answered after this long counts as failed, so a store that hangs never holds a
   * sweep or a slot. @default timeoutMs
   */
  storeTimeoutMs?: number
  /**
   * Longest pause a Retry-After (or a ban's end) may impose on an exchange or an account; longer ones are cut to
   * this. @default 259_200_000 (3 days, Binance's longest IP ban)
   */
  maxPauseMs?: number
  /** Delay after transient failures: `baseMs * 2^(failures - 1)` with jitter, capped at `maxMs`, never below `intervalMs`. @default { baseMs: intervalMs, maxMs: the larger of 3_600_000 and baseMs } */
  backoff?: { baseMs?: number; maxMs?: number }
  /** How often the background loop looks for due connections. @default intervalMs / 60, between 250 and 5_000 */
  tickMs?: number
  /** Connections read from the store per page. @default 256 */
  pageSize?: number
  /** How long `markActive` puts a user's connections first. @default 5 * intervalMs */
  activeForMs?: number
  /** Time source; inject one in tests. @default the system clock */
  clock?: Clock
  /** Random source in [0, 1) for jitter. @default Math.random */
  random?: () => number
  /**
   * Where the scheduler says what it has to say: warnings, store failures, pauses, disabled connections (never a
   * secret). pino, Nest's Logger and `console` fit. @default none
   */
  logger?: SchedulerLogger
  /** Where the dispatcher asks before each start. @default an in-process BudgetLimiter over `limits` */
  limiter?: SyncLimiter
}

export interface ResolvedOptions {
  store: SyncStore
  exchanges: Map<string, ExchangeAdapter>
  intervalMs: number
  concurrency: number
  /** Resolved limits of every configured exchange. */
  limits: Map<string, ResolvedLimits>
  /** Exchanges running on the conservative fallback budget. */
  fallbackExchanges: string[]
  timeoutMs: number
  storeTimeoutMs: number
  maxPauseMs: number
  backoff: { baseMs: number; maxMs: number }
  tickMs: number
  pageSize: number
  activeForMs: number
  clock: Clock
  random: () => number
  limiter: SyncLimiter | undefined
  logger: SchedulerLogger | undefined
}

const STORE_METHODS = [
  'listDue',
  'get',
  'getCredentials',
  'recordSuccess',
  'recordFailure',
  'listByUser',
  'getBalances',
  'add',
  'updateCredentials',
  'remove',
] as const

const budgetSchema = z.strictObject({
  scope: z.enum(['exchange', 'account']),
  limit: z.number().positive(),
  windowMs: positiveInt,
  align: z.enum(['clock', 'sliding']).optional(),
})

export const exchangeLimitsSchema = z.strictObject({
  cost: z.number().positive().optional(),
  budgets: z.array(budgetSchema).optional(),
  concurrency: positiveInt.optional(),
})

const adapterSchema = z.looseObject({
  id: z.string().min(1),
  fetchBalances: fn,
})

const optionsSchema = z.strictObject({
  store: withMethods(STORE_METHODS),
  exchanges: z
    .array(adapterSchema)
    .min(1)
    .refine((list) => new Set(list.map((adapter) => adapter.id)).size === list.length, 'has two adapters with one id'),
  intervalMs: positiveInt,
  concurrency: positiveInt,
  limits: z.record(z.string(), exchangeLimitsSchema),
  timeoutMs: positiveInt,
  storeTimeoutMs: positiveInt,
  maxPauseMs: positiveInt,
  backoff: z.strictObject({ baseMs: positiveInt, maxMs: positiveInt }),
  tickMs: positiveInt,
  pageSize: positiveInt,
  activeForMs: z.number().int().nonnegative(),
  clock: withMethods(['now', 'setTimeout', 'clearTimeout']),
  random: fn,
  limiter: withMethods(['acquire', 'settle', 'stats']).optional(),
  logger: withMethods(['debug', 'info', 'warn', 'error']).optional(),
})

/**
 * Applies defaults, then validates once; a bad option throws InvalidOptionError naming the field and value.
 * `owner` names the constructor in the error (another engine's scheduler parses the same options).
 */
export function resolveOptions(input: SyncSchedulerOptions, owner = 'SyncScheduler'): ResolvedOptions {
  if (typeof input !== 'object' || input === null) parseOptions(owner, optionsSchema, input)
  const intervalMs = input.intervalMs ?? 60_000
  const withDefaults = {
    intervalMs,
    concurrency: 5,
    limits: {},
    timeoutMs: 30_000,
    tickMs: Math.round(Math.min(5_000, Math.max(250, intervalMs / 60))),
    pageSize: 256,
    activeForMs: 5 * intervalMs,
    clock: systemClock,
    random: Math.random,
    ...withoutUndefined(input),
    storeTimeoutMs: input.storeTimeoutMs ?? input.timeoutMs ?? 30_000,
    maxPauseMs: input.maxPauseMs ?? 259_200_000,
    // The cap defaults to an hour, or to the base when that is longer (an interval of hours).
    backoff: {
      baseMs: input.backoff?.baseMs ?? intervalMs,
      maxMs: input.backoff?.maxMs ?? Math.max(3_600_000, input.backoff?.baseMs ?? intervalMs),
    },
  }
  parseOptions(owner, optionsSchema, withDefaults)
  const options = withDefaults as typeof withDefaults & { store: SyncStore; exchanges: ExchangeAdapter[] }
  if (options.backoff.maxMs < options.backoff.baseMs) {
    throw new InvalidOptionError(owner, 'backoff.maxMs', 'must be >= backoff.baseMs', options.backoff.maxMs)
  }
  const limits = new Map<string, ResolvedLimits>()
  for (const { id } of options.exchanges) {
    const given = (options.limits as Record<string, ExchangeLimits>)[id]
    const resolved = resolveLimits(id, given)
    for (const [index, budget] of resolved.budgets.entries()) {
      if (budget.limit < resolved.cost) {
        const field = given?.budgets ? `limits.${id}.budgets.${index}.limit` : `limits.${id}.cost`
        const value = given?.budgets ? budget.limit : resolved.cost
        throw new InvalidOptionError(
          owner,
          field,
          `a sync costs ${resolved.cost}, more than the budget's limit ${budget.limit}`,
          value,
        )
      }
    }
    limits.set(id, resolved)
  }
  return {
    ...options,
    exchanges: new Map(options.exchanges.map((adapter) => [adapter.id, adapter])),
    limits,
    fallbackExchanges: options.exchanges
      .map(({ id }) => id)
      .filter((id) => usesFallbackLimits(id, (options.limits as Record<string, ExchangeLimits>)[id])),
    limiter: options.limiter,
    logger: options.logger,
  }
}
