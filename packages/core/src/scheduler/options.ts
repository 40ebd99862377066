import { z } from 'zod'
import { InvalidOptionError } from '../errors/invalidOptionError.js'
import type { SyncLimiter } from '../limits/syncLimiter.js'
import type { SyncStore } from '../store/syncStore.js'
import type { ExchangeAdapter } from '../types.js'
import { type Clock, systemClock } from './clock.js'

/** Per-exchange limits, merged over built-in defaults. */
export interface ExchangeLimits {
  /** Weight one balance sync costs against the exchange's budgets. */
  cost?: number
  /** Weighted sliding windows; `[]` means none. */
  budgets?: Budget[]
  /** Most syncs of this exchange in flight at once. @default unlimited (only the global cap) */
  concurrency?: number
}

export interface Budget {
  /** `exchange`: one budget shared by every connection (per IP); `account`: one per connection. */
  scope: 'exchange' | 'account'
  limit: number
  windowMs: number
}

export interface SyncSchedulerOptions {
  /** Where connections, credentials and balances live. */
  store: SyncStore
  /** One adapter per exchange, keyed by `adapter.id`. */
  exchanges: ExchangeAdapter[]
  /** Each active connection is synced about once per interval. @default 60_000 */
  intervalMs?: number
  /** Most syncs in flight at once, across every exchange. @default 5 */
  concurrency?: number
  /** Per-exchange limits, keyed by adapter id. @default {} */
  limits?: Record<string, ExchangeLimits>
  /** A sync still running after this long is aborted and fails with `TIMEOUT`. @default 30_000 */
  timeoutMs?: number
  /** Delay after transient failures: `baseMs * 2^(failures - 1)` with jitter, capped at `maxMs`, never below `intervalMs`. @default { baseMs: intervalMs, maxMs: 3_600_000 } */
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
  /** Where the dispatcher asks before each start. @default no budgets (concurrency caps only) */
  limiter?: SyncLimiter
}

export interface ResolvedOptions {
  store: SyncStore
  exchanges: Map<string, ExchangeAdapter>
  intervalMs: number
  concurrency: number
  limits: Record<string, ExchangeLimits>
  timeoutMs: number
  backoff: { baseMs: number; maxMs: number }
  tickMs: number
  pageSize: number
  activeForMs: number
  clock: Clock
  random: () => number
  limiter: SyncLimiter | undefined
}

const positiveInt = z.number().int().positive()
const fn = z.custom<(...args: never[]) => unknown>((value) => typeof value === 'function', 'expected a function')
const withMethods = (methods: readonly string[]) =>
  z.custom<object>(
    (value) =>
      typeof value === 'object' &&
      value !== null &&
      methods.every((method) => typeof (value as Record<string, unknown>)[method] === 'function'),
    `expected an object with methods ${methods.join(', ')}`,
  )

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
  backoff: z.strictObject({ baseMs: positiveInt, maxMs: positiveInt }),
  tickMs: positiveInt,
  pageSize: positiveInt,
  activeForMs: z.number().int().nonnegative(),
  clock: withMethods(['now', 'setTimeout', 'clearTimeout']),
  random: fn,
  limiter: withMethods(['acquire', 'settle', 'stats']).optional(),
})

/** Applies defaults, then validates once; a bad option throws InvalidOptionError naming the field and value. */
export function resolveOptions(input: SyncSchedulerOptions): ResolvedOptions {
  if (typeof input !== 'object' || input === null) {
    throw new InvalidOptionError('SyncScheduler', '(options)', 'must be an object', input)
  }
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
    ...stripUndefined(input),
    backoff: { baseMs: intervalMs, maxMs: 3_600_000, ...stripUndefined(input.backoff ?? {}) },
  }
  const parsed = optionsSchema.safeParse(withDefaults)
  if (!parsed.success) {
    const issue = parsed.error.issues[0] as z.core.$ZodIssue
    const field = issue.path.map(String).join('.')
    throw new InvalidOptionError('SyncScheduler', field, lowerFirst(issue.message), valueAt(withDefaults, issue.path))
  }
  const options = withDefaults as typeof withDefaults & { store: SyncStore; exchanges: ExchangeAdapter[] }
  if (options.backoff.maxMs < options.backoff.baseMs) {
    throw new InvalidOptionError('SyncScheduler', 'backoff.maxMs', 'must be >= backoff.baseMs', options.backoff.maxMs)
  }
  return {
    ...options,
    exchanges: new Map(options.exchanges.map((adapter) => [adapter.id, adapter])),
    limiter: options.limiter,
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as Partial<T>
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root
  for (const key of path) value = (value as Record<PropertyKey, unknown> | undefined)?.[key]
  return value
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1)
}
