import {
  type Clock,
  type ExchangeLimitStats,
  InvalidOptionError,
  type LimitDecision,
  type LimitPermit,
  type LimitRequest,
  type LimitSettlement,
  type LimitSettleResult,
  type ResolvedLimits,
  type SyncLimiter,
  systemClock,
} from '@syncfolio/core'
import { parseOptions, withoutUndefined } from '@syncfolio/core/runner'
import type { Redis } from 'ioredis'
import { z } from 'zod'
import { ACQUIRE_SCRIPT } from './acquireScript.js'
import { LimiterKeys } from './limiterKeys.js'
import { RedisLimiterError } from './redisLimiterError.js'
import { type BudgetReply, parseReply, type ScriptReply } from './scriptReply.js'
import { SETTLE_SCRIPT } from './settleScript.js'

export interface RedisLimiterOptions {
  /** A connected ioredis client; the limiter runs its scripts on it and never closes it. */
  redis: Redis
  /** Key prefix, shared with the queues. A hash tag here (`{syncfolio}`) puts every key in one Cluster slot. @default 'syncfolio' */
  prefix?: string
  /** The egress (outgoing IP) this process's requests leave from: exchange-scope budgets are kept per egress. @default 'default' */
  egress?: string
  /** Resolved limits per exchange (as the core's `resolveLimits` gives them). */
  limits: ReadonlyMap<string, ResolvedLimits>
  /** First pause after a RATE_LIMITED error without Retry-After; doubles with each in a row. @default 5_000 */
  rateLimitBackoffMs?: number
  /** Longest such pause. @default 300_000 */
  maxRateLimitBackoffMs?: number
  /** Longest pause a Retry-After may set; a longer one is cut to it. @default 259_200_000 (3 days) */
  maxPauseMs?: number
  /** A Redis call not answered within this counts as failed (see "When Redis fails"). @default 2_000 */
  commandTimeoutMs?: number
  /** While Redis fails, an acquire refuses the exchange for this long, then asks again. @default 1_000 */
  unavailableRetryMs?: number
  /** How long an exchange-scope budget that learned outside weight keeps it while unused. @default 86_400_000 (a day) */
  idleTtlMs?: number
  /** Timers for the reply deadline. @default the system clock */
  clock?: Pick<Clock, 'setTimeout' | 'clearTimeout'>
  /** Told of every Redis failure, timeout or malformed reply (the limiter refused or paused locally instead). */
  onError?: (error: RedisLimiterError) => void
}

/** What a grant of the RedisLimiter remembers until it is settled. */
interface RedisPermit extends LimitPermit {
  readonly account: string
  readonly cost: number
  /** The `now` of the grant. */
  readonly at: number
  /** Per clock-aligned budget (by index): where the grant stood in its window. */
  readonly marks: ReadonlyArray<{ readonly windowStart: number; readonly ownBefore: number } | undefined>
}

/** The last reply seen for an exchange: what `stats` answers from. */
interface Seen {
  at: number
  pausedUntil: number | null
  pausedAccounts: number
  budgets: BudgetReply[]
}

type Resolved = Required<Omit<RedisLimiterOptions, 'onError'>> & Pick<RedisLimiterOptions, 'onError'>

const ACQUIRE_COMMAND = 'syncfolioLimiterAcquire'
const SETTLE_COMMAND = 'syncfolioLimiterSettle'

const positiveInt = z.number().int().positive()
const withMethods = (names: string[], what: string) =>
  z.custom(
    (value) =>
      typeof value === 'object' &&
      value !== null &&
      names.every((name) => typeof (value as Record<string, unknown>)[name] === 'function'),
    `must be ${what}`,
  )

const optionsSchema = z.strictObject({
  redis: withMethods(['defineCommand'], 'an ioredis client'),
  prefix: z.string().min(1),
  egress: z.string().min(1),
  limits: z.custom((value) => value instanceof Map, 'must be a Map of exchange id to resolved limits'),
  rateLimitBackoffMs: positiveInt,
  maxRateLimitBackoffMs: positiveInt,
  maxPauseMs: positiveInt,
  commandTimeoutMs: positiveInt,
  unavailableRetryMs: positiveInt,
  idleTtlMs: positiveInt,
  clock: withMethods(['setTimeout', 'clearTimeout'], 'an object with setTimeout and clearTimeout'),
  onError: z.custom((value) => typeof value === 'function', 'must be a function').optional(),
})

const limitsSchema = z.looseObject({
  cost: z.number().positive(),
  budgets: z.array(
    z.strictObject({
      scope: z.enum(['exchange', 'account']),
      limit: z.number().positive(),
      windowMs: positiveInt,
      align: z.enum(['clock', 'sliding']).optional(),
    }),
  ),
})

/**
 * Budgets shared in Redis by every worker: the same semantics as the core's in-process `BudgetLimiter`, with one
 * atomic acquire across every scope of the exchange that charges nothing when it refuses.
 *
 * - Exchange-scope budgets and the exchange's pause are kept per `egress` (one IP, one count); account-scope
 *   budgets and pauses per account (`request.account ?? connectionId`), shared by every egress.
 * - A RATE_LIMITED settlement pauses its scope for every worker at once; `usedWeight` re-aligns the shared
 *   exchange-scope count (a clock window learns the weight spent outside syncfolio and keeps its share free).
 * - Times are the `now` the caller passes (the dispatcher's clock), never Redis's own, so tests drive time; key
 *   TTLs are durations from that `now`, so Redis memory follows the accounts in use.
 * - `stats` is answered from the last reply seen for the exchange, never from a Redis call.
 *
 * When Redis fails: the core's dispatcher ends a sync whose acquire rejects as an `UNKNOWN` failure without running
 * it, and an acquire that never answers keeps its lane asking forever. So this limiter never rejects for Redis: an
 * error, a malformed reply or a reply later than `commandTimeoutMs` is handed to `onError` and the acquire refuses
 * the exchange for `unavailableRetryMs` (`reason: 'retry-after'`, so no budget event): the lane holds no slot, asks
 * again a moment later, and no sync fails for it. A late reply that was a
 * grant stays charged in Redis; that errs toward spending less. `settle` never rejects: when Redis fails, a
 * RATE_LIMITED settlement still pauses its scope in this process (Retry-After, else the first backoff).
 */
export class RedisLimiter implements SyncLimiter {
  readonly #options: Resolved
  readonly #redis: Record<string, (...args: string[]) => Promise<unknown>>
  readonly #keys: LimiterKeys
  /** A copy of the limits as validated: a caller changing its map later cannot reach past the checks. */
  readonly #limits = new Map<string, ResolvedLimits>()
  readonly #seen = new Map<string, Seen>()
  /** Pauses this process knows of (replies, or a settlement Redis did not take): acquire answers them itself. */
  readonly #pauses = new Map<string, number>()
  #pruneAt = 1_024

  constructor(options: RedisLimiterOptions) {
    if (typeof options !== 'object' || options === null) parseOptions('RedisLimiter', optionsSchema, options)
    const resolved = {
      prefix: 'syncfolio',
      egress: 'default',
      rateLimitBackoffMs: 5_000,
      maxRateLimitBackoffMs: 300_000,
      maxPauseMs: 259_200_000,
      commandTimeoutMs: 2_000,
      unavailableRetryMs: 1_000,
      idleTtlMs: 86_400_000,
      clock: systemClock,
      ...withoutUndefined(options),
    }
    parseOptions('RedisLimiter', optionsSchema, resolved)
    this.#options = resolved as Resolved
    const { limits, rateLimitBackoffMs, maxRateLimitBackoffMs } = this.#options
    if (maxRateLimitBackoffMs < rateLimitBackoffMs) {
      throw new InvalidOptionError(
        'RedisLimiter',
        'maxRateLimitBackoffMs',
        'must be >= rateLimitBackoffMs',
        maxRateLimitBackoffMs,
      )
    }
    for (const [exchange, given] of limits) {
      if (typeof exchange !== 'string' || exchange === '')
        throw new InvalidOptionError('RedisLimiter', 'limits', 'has a key that is not an exchange id', exchange)
      const checked = parseOptions('RedisLimiter', limitsSchema, given, `limits.${exchange}`)
      for (const [index, budget] of checked.budgets.entries()) {
        if (budget.limit < checked.cost) {
          throw new InvalidOptionError(
            'RedisLimiter',
            `limits.${exchange}.budgets.${index}.limit`,
            `a sync costs ${checked.cost}, more than the budget's limit ${budget.limit}`,
            budget.limit,
          )
        }
      }
      this.#limits.set(exchange, { ...given, budgets: given.budgets.map((budget) => ({ ...budget })) })
    }
    const { redis } = this.#options
    redis.defineCommand(ACQUIRE_COMMAND, { lua: ACQUIRE_SCRIPT })
    redis.defineCommand(SETTLE_COMMAND, { lua: SETTLE_SCRIPT })
    this.#redis = redis as unknown as Record<string, (...args: string[]) => Promise<unknown>>
    this.#keys = new LimiterKeys(this.#options.prefix, this.#options.egress)
  }

  acquire(request: LimitRequest): Promise<LimitDecision> {
    const problem = requestProblem(request)
    if (problem) return Promise.reject(new RedisLimiterError('INVALID_REQUEST', `RedisLimiter.acquire: ${problem}`))
    const { exchange, connectionId, now } = request
    const account = request.account ?? connectionId
    const limits = this.#limits.get(exchange)
    if (!limits) {
      const permit: RedisPermit = { exchange, connectionId, account, cost: 0, at: now, marks: [] }
      return Promise.resolve({ granted: true, permit })
    }
    const known = this.#knownPause(exchange, account, now)
    if (known) return Promise.resolve(known)
    return this.#acquire(exchange, connectionId, account, now, limits)
  }

  async settle(permit: LimitPermit, settlement: LimitSettlement): Promise<LimitSettleResult | undefined> {
    try {
      return await this.#settle(permit, settlement)
    } catch (error) {
      this.#report(error)
      return undefined
    }
  }

  stats(exchange: string, now: number): ExchangeLimitStats {
    const limits = this.#limits.get(exchange)
    const seen = this.#seen.get(exchange)
    let budgetLeft: number | null = null
    for (const [index, budget] of (limits?.budgets ?? []).entries()) {
      if (budget.scope !== 'exchange') continue
      const left = budget.limit - usedAt(budget, seen, seen?.budgets[index], now)
      budgetLeft = budgetLeft === null ? left : Math.min(budgetLeft, left)
    }
    const paused = Math.max(seen?.pausedUntil ?? 0, this.#pauses.get(exchange) ?? 0)
    return { budgetLeft, pausedUntil: paused > now ? paused : null, pausedAccounts: seen?.pausedAccounts ?? 0 }
  }

  async #acquire(
    exchange: string,
    connectionId: string,
    account: string,
    now: number,
    limits: ResolvedLimits,
  ): Promise<LimitDecision> {
    let reply: ScriptReply
    try {
      reply = await this.#run('acquire', exchange, account, now, limits, [], undefined)
    } catch (error) {
      this.#report(error)
      return {
        granted: false,
        retryAt: now + this.#options.unavailableRetryMs,
        scope: 'exchange',
        reason: 'retry-after',
      }
    }
    this.#remember(exchange, now, reply)
    if (reply.outcome === 'grant') {
      const marks = limits.budgets.map((budget, index) => {
        const { grantStart, grantOwn } = reply.budgets[index] as BudgetReply
        return budget.align === 'clock' && grantStart !== undefined && grantOwn !== undefined
          ? { windowStart: grantStart, ownBefore: grantOwn }
          : undefined
      })
      const permit: RedisPermit = { exchange, connectionId, account, cost: limits.cost, at: now, marks }
      return { granted: true, permit }
    }
    const retryAt = reply.at as number
    const scope = reply.scope as 'exchange' | 'account'
    if (reply.outcome === 'retry-after') this.#pauseHere(exchange, scope, account, retryAt, now)
    return { granted: false, retryAt, scope, reason: reply.outcome === 'budget' ? 'budget' : 'retry-after' }
  }

  async #settle(permit: LimitPermit, settlement: LimitSettlement): Promise<LimitSettleResult | undefined> {
    const { exchange, connectionId } = permit ?? {}
    if (typeof exchange !== 'string' || typeof connectionId !== 'string')
      throw new RedisLimiterError('INVALID_REQUEST', 'RedisLimiter.settle: the permit is not one of a limiter')
    const limits = this.#limits.get(exchange)
    if (!limits) return undefined
    const { now, result, usedWeight, retryAfterMs: given } = settlement ?? {}
    if (typeof now !== 'number' || !Number.isFinite(now))
      throw new RedisLimiterError('INVALID_REQUEST', `RedisLimiter.settle: "now" must be a finite number; got ${now}`)
    if (result !== 'ok' && result !== 'rate-limited' && result !== 'failed')
      throw new RedisLimiterError('INVALID_REQUEST', `RedisLimiter.settle: unknown result ${JSON.stringify(result)}`)
    const ours = permit as Partial<RedisPermit>
    const account = typeof ours.account === 'string' ? ours.account : connectionId
    const weight = typeof usedWeight === 'number' && Number.isFinite(usedWeight) && usedWeight >= 0 ? usedWeight : ''
    // A failure that reports nothing changes nothing, as in process: no call.
    if (result === 'failed' && weight === '') return undefined
    const scope = settlement.scope === 'account' ? 'account' : 'exchange'
    // NaN, negative or Infinity: as if the exchange had not said, so the backoff applies.
    const retryAfterMs =
      typeof given === 'number' && Number.isFinite(given) && given >= 0 ? Math.min(given, this.#options.maxPauseMs) : ''
    const { rateLimitBackoffMs, maxRateLimitBackoffMs } = this.#options
    const tail = [
      result,
      String(weight),
      scope,
      String(retryAfterMs),
      String(rateLimitBackoffMs),
      String(maxRateLimitBackoffMs),
      account,
      typeof ours.at === 'number' && Number.isFinite(ours.at) ? String(ours.at) : '',
    ]
    let reply: ScriptReply
    try {
      reply = await this.#run('settle', exchange, account, now, limits, tail, ours.marks)
    } catch (error) {
      this.#report(error)
      if (result !== 'rate-limited') return undefined
      const until = now + (retryAfterMs === '' ? rateLimitBackoffMs : retryAfterMs)
      this.#pauseHere(exchange, scope, account, until, now)
      return { pausedUntil: until }
    }
    this.#remember(exchange, now, reply)
    if (reply.outcome !== 'paused') return undefined
    const pausedUntil = reply.at as number
    this.#pauseHere(exchange, scope, account, pausedUntil, now)
    return { pausedUntil }
  }

  /** Runs a script for one exchange and account under the reply deadline, and checks what it answered. */
  async #run(
    script: 'acquire' | 'settle',
    exchange: string,
    account: string,
    now: number,
    limits: ResolvedLimits,
    tail: string[],
    marks: RedisPermit['marks'] | undefined,
  ): Promise<ScriptReply> {
    const { budgets } = limits
    const keys = this.#keys.forCall(exchange, account, budgets)
    const args = [String(now), String(limits.cost), String(this.#options.idleTtlMs), String(budgets.length)]
    for (const [index, budget] of budgets.entries()) {
      const mark = Array.isArray(marks) ? marks[index] : undefined
      const windowStart = typeof mark?.windowStart === 'number' ? String(mark.windowStart) : ''
      const ownBefore = typeof mark?.ownBefore === 'number' ? String(mark.ownBefore) : ''
      args.push(String(budget.limit), String(budget.windowMs), budget.align ?? 'sliding', budget.scope)
      args.push(windowStart, ownBefore)
    }
    const command = script === 'acquire' ? ACQUIRE_COMMAND : SETTLE_COMMAND
    const raw = await this.#withDeadline(`${script} of ${exchange}`, () =>
      (this.#redis[command] as (...args: string[]) => Promise<unknown>)(String(keys.length), ...keys, ...args, ...tail),
    )
    return parseReply(script, raw, budgets.length)
  }

  #withDeadline(what: string, call: () => Promise<unknown>): Promise<unknown> {
    const { clock, commandTimeoutMs } = this.#options
    return new Promise((resolve, reject) => {
      const timer = clock.setTimeout(() => {
        reject(
          new RedisLimiterError('REDIS_TIMEOUT', `Redis did not answer the ${what} within ${commandTimeoutMs} ms.`),
        )
      }, commandTimeoutMs)
      const failed = (error: unknown) => {
        clock.clearTimeout(timer)
        const message = error instanceof Error ? error.message : String(error)
        reject(new RedisLimiterError('REDIS_FAILED', `Redis failed the ${what}: ${message}`, { cause: error }))
      }
      let answer: Promise<unknown>
      try {
        answer = Promise.resolve(call())
      } catch (error) {
        failed(error)
        return
      }
      answer.then((value) => {
        clock.clearTimeout(timer)
        resolve(value)
      }, failed)
    })
  }

  /** Keeps the latest reply per exchange for `stats`; an older one answering late does not overwrite it. */
  #remember(exchange: string, now: number, reply: ScriptReply): void {
    const seen = this.#seen.get(exchange)
    if (seen && seen.at > now) return
    this.#seen.set(exchange, {
      at: now,
      pausedUntil: reply.pausedUntil,
      pausedAccounts: reply.pausedAccounts,
      budgets: reply.budgets,
    })
  }

  /** A pause never ends early (a success forgets only pauses that are over), so this process may answer it itself. */
  #pauseHere(exchange: string, scope: 'exchange' | 'account', account: string, until: number, now: number): void {
    const key = scope === 'exchange' ? exchange : accountKey(exchange, account)
    this.#pauses.set(key, Math.max(this.#pauses.get(key) ?? 0, until))
    if (this.#pauses.size > this.#pruneAt) {
      for (const [held, heldUntil] of this.#pauses) if (heldUntil <= now) this.#pauses.delete(held)
      this.#pruneAt = Math.max(1_024, this.#pauses.size * 2)
    }
  }

  #knownPause(exchange: string, account: string, now: number): LimitDecision | undefined {
    const exchangePause = this.#pauses.get(exchange)
    if (exchangePause !== undefined && exchangePause > now)
      return { granted: false, retryAt: exchangePause, scope: 'exchange', reason: 'retry-after' }
    const accountPause = this.#pauses.get(accountKey(exchange, account))
    if (accountPause !== undefined && accountPause > now)
      return { granted: false, retryAt: accountPause, scope: 'account', reason: 'retry-after' }
    return undefined
  }

  #report(error: unknown): void {
    const wrapped =
      error instanceof RedisLimiterError
        ? error
        : new RedisLimiterError('REDIS_FAILED', `The limiter failed: ${String(error)}`, { cause: error })
    try {
      this.#options.onError?.(wrapped)
    } catch {
      // A throwing listener must not turn a refusal into a rejection the dispatcher cannot place.
    }
  }
}

/** What the last reply says an exchange-scope window counts at `now`: a clock window that rolled counts nothing. */
function usedAt(
  budget: ResolvedLimits['budgets'][number],
  seen: Seen | undefined,
  reply: BudgetReply | undefined,
  now: number,
): number {
  if (!seen || reply?.used === undefined) return 0
  if (budget.align === 'clock') {
    return (reply.windowStart ?? 0) >= Math.floor(now / budget.windowMs) * budget.windowMs ? reply.used : 0
  }
  // A sliding log is not mirrored here: the count as of the reply, until a whole window has passed since.
  return now - seen.at >= budget.windowMs ? 0 : reply.used
}

function requestProblem(request: LimitRequest): string | undefined {
  if (typeof request !== 'object' || request === null) return 'the request must be an object'
  const { exchange, connectionId, account, now } = request
  if (typeof exchange !== 'string' || exchange === '') return `"exchange" must be a non-empty string; got ${exchange}`
  if (typeof connectionId !== 'string' || connectionId === '')
    return `"connectionId" must be a non-empty string; got ${connectionId}`
  if (account !== undefined && (typeof account !== 'string' || account === ''))
    return `"account" must be a non-empty string when given; got ${account}`
  if (typeof now !== 'number' || !Number.isFinite(now)) return `"now" must be a finite number; got ${now}`
  return undefined
}

function accountKey(exchange: string, account: string): string {
  return `${exchange}\u0000${account}`
}
