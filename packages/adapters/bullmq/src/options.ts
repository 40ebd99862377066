import { hostname } from 'node:os'
import { InvalidOptionError, type SyncLimiter, type SyncSchedulerOptions } from '@syncfolio/core'
import { parseOptions, type ResolvedOptions, resolveOptions, withoutUndefined } from '@syncfolio/core/runner'
import type { Redis, RedisOptions } from 'ioredis'
import { z } from 'zod'

export type BullmqRole = 'all' | 'worker' | 'api'

export interface BullmqSchedulerOptions extends Omit<SyncSchedulerOptions, 'clock' | 'tickMs' | 'limiter'> {
  /**
   * Where the queues, the budgets and the events live: ioredis options (`{ host, port, ... }`) or an ioredis
   * instance. The scheduler opens its own connections (from the options, or duplicates of the instance, with
   * `maxRetriesPerRequest: null` as BullMQ workers need) and closes only those; an instance given here is never
   * closed.
   */
  redis: RedisOptions | Redis
  /**
   * What this process does. `all` and `worker` run syncs and the cluster's due-scan; `api` runs neither: it serves
   * `syncNow` (which a worker runs) and re-emits the cluster's events. @default 'all'
   */
  role?: BullmqRole
  /** Prefix of every Redis key and channel; processes of one cluster share it. @default 'syncfolio' */
  prefix?: string
  /** The egress (outgoing IP) this process's requests leave from: exchange-scope budgets are kept per egress. @default 'default' */
  egress?: string
  /** Names this process in the `worker` field of the sync events it runs. @default `${hostname}:${pid}` */
  workerId?: string
  /**
   * How long a worker's hold on a job lasts without renewal (BullMQ's `lockDuration`; a live worker renews it every
   * half of it). A killed worker's job runs again elsewhere once its lock expired and a stalled check saw it, so a
   * kill costs up to `lockDurationMs + stalledIntervalMs`. @default the larger of timeoutMs and 5_000
   */
  lockDurationMs?: number
  /** How often each worker looks for jobs whose lock expired (BullMQ's `stalledInterval`). @default lockDurationMs */
  stalledIntervalMs?: number
  /**
   * The budgets shared by every worker. @default a RedisLimiter on this scheduler's connection, prefix and egress
   * (exchange scope per egress, account scope per account)
   */
  limiter?: SyncLimiter
}

export interface ResolvedBullmqOptions {
  core: ResolvedOptions
  redis: RedisOptions | Redis
  role: BullmqRole
  prefix: string
  egress: string
  workerId: string
  lockDurationMs: number
  stalledIntervalMs: number
}

const OWNER = 'BullmqScheduler'

/** Queue names and job ids hold the exchange id, and BullMQ keys are `prefix:queue:...`: no `:` may sneak in. */
const EXCHANGE_ID = /^[A-Za-z0-9_.-]+$/

const positiveInt = z.number().int().positive()

const ownSchema = z.object({
  redis: z.custom<RedisOptions | Redis>(
    (value) => typeof value === 'object' && value !== null && !Array.isArray(value),
    'must be ioredis options ({ host, port, ... }) or an ioredis instance',
  ),
  role: z.enum(['all', 'worker', 'api']),
  prefix: z
    .string()
    .min(1)
    .regex(/^[^:\s]+$/, 'must be non-empty with no ":" or whitespace'),
  egress: z.string().min(1),
  workerId: z.string().min(1),
  lockDurationMs: positiveInt.min(1_000, 'must be at least 1000 ms'),
  stalledIntervalMs: positiveInt.min(500, 'must be at least 500 ms'),
})

const OWN_KEYS = [
  'redis',
  'role',
  'prefix',
  'egress',
  'workerId',
  'lockDurationMs',
  'stalledIntervalMs',
  'limiter',
] as const

/** Applies defaults and validates once; a bad option throws InvalidOptionError naming the field and the value. */
export function resolveBullmqOptions(input: BullmqSchedulerOptions): ResolvedBullmqOptions {
  if (typeof input !== 'object' || input === null) {
    throw new InvalidOptionError(OWNER, '(options)', 'must be an object', input)
  }
  const rest: Record<string, unknown> = { ...input }
  for (const key of OWN_KEYS) delete rest[key]
  for (const key of ['clock', 'tickMs']) {
    if (key in rest) throw new InvalidOptionError(OWNER, key, `is not an option of ${OWNER}`, rest[key])
  }
  const core = resolveOptions({ ...(rest as unknown as SyncSchedulerOptions), limiter: input.limiter }, OWNER)
  for (const id of core.exchanges.keys()) {
    if (!EXCHANGE_ID.test(id)) {
      throw new InvalidOptionError(
        OWNER,
        'exchanges',
        'has an adapter id with characters other than A-Z a-z 0-9 _ . -',
        id,
      )
    }
  }
  const lockDurationMs = input.lockDurationMs ?? Math.max(core.timeoutMs, 5_000)
  const own = {
    role: 'all',
    prefix: 'syncfolio',
    egress: 'default',
    workerId: `${hostname()}:${process.pid}`,
    lockDurationMs,
    stalledIntervalMs: lockDurationMs,
    ...withoutUndefined(pick(input)),
  }
  if (!('redis' in input) || input.redis === undefined) {
    throw new InvalidOptionError(
      OWNER,
      'redis',
      'is required: ioredis options ({ host, port }) or an instance',
      undefined,
    )
  }
  parseOptions(OWNER, ownSchema, own)
  return { core, ...(own as Omit<ResolvedBullmqOptions, 'core'>) }
}

function pick(input: BullmqSchedulerOptions): Partial<BullmqSchedulerOptions> {
  const { redis, role, prefix, egress, workerId, lockDurationMs, stalledIntervalMs } = input
  return { redis, role, prefix, egress, workerId, lockDurationMs, stalledIntervalMs }
}
