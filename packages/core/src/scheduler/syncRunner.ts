import { validateResult } from '../balances/validateResult.js'
import { scrubSyncError, secretValues } from '../errors/scrub.js'
import { SyncError, toSyncError } from '../errors/syncError.js'
import type { LimitPermit, LimitSettlement, LimitSettleResult, SyncLimiter } from '../limits/syncLimiter.js'
import type { SyncStore } from '../store/syncStore.js'
import type { Connection, Credentials, ExchangeAdapter, FetchBalancesResult } from '../types.js'
import type { Clock, TimerHandle } from './clock.js'
import type { EventBus } from './eventBus.js'
import type { SyncFailureEvent, SyncOutcome, VerifyCredentialsResult } from './events.js'
import type { Lifecycle } from './lifecycle.js'
import type { StoreCalls } from './storeCalls.js'
import { backoffDelay, nextPhaseAt } from './timing.js'

export type Trigger = 'sweep' | 'manual'

export interface SyncRunnerOptions {
  store: SyncStore
  storeCalls: StoreCalls
  limiter: SyncLimiter
  events: EventBus
  lifecycle: Lifecycle
  clock: Clock
  intervalMs: number
  timeoutMs: number
  maxPauseMs: number
  backoff: { baseMs: number; maxMs: number }
  random: () => number
}

type EventBase = Omit<SyncFailureEvent, 'error' | 'startedAt' | 'finishedAt' | 'nextSyncAt' | 'disabled'>

/** Most learned account ids kept (one per connection whose adapter reports one). */
const MAX_ACCOUNTS = 100_000

/**
 * Runs one sync end to end: the credentials, the adapter call under `timeoutMs` with an AbortSignal, validation of
 * everything the adapter returned or threw (balances, `usedWeight`, `retryAfterMs`), scrubbing of every credential
 * value, the limiter's settlement, the store write and the events. Sweeps, `syncNow`, `verifyCredentials` and
 * other engines' workers all run syncs through it. Never rejects: every failure becomes an outcome.
 */
export class SyncRunner {
  readonly #options: SyncRunnerOptions
  /** Aborts of the adapter calls in flight, for `stop`. */
  readonly #calls = new Set<(reason: SyncError) => void>()
  /** Connection id -> the exchange's own account id the adapter reported, for account-scope budgets. */
  readonly #accounts = new Map<string, string>()
  /** Connection id -> until when not to retry, after the store failed to take its result. */
  readonly #held = new Map<string, number>()
  /** Exchanges whose server-wide refusal was announced, until the pause it set ends. */
  readonly #announced = new Map<string, number>()

  constructor(options: SyncRunnerOptions) {
    this.#options = options
  }

  /** The account id the exchange reported for this connection's keys, once known. */
  accountOf(connectionId: string): string | undefined {
    return this.#accounts.get(connectionId)
  }

  /** True while the store failed to take this connection's last result: leave it alone for an interval. */
  isHeld(connectionId: string, now: number): boolean {
    const until = this.#held.get(connectionId)
    if (until === undefined) return false
    if (until > now) return true
    this.#held.delete(connectionId)
    return false
  }

  /** Aborts every adapter call in flight with `reason` (they end at once, whether or not the adapter listens). */
  abortAll(reason: SyncError): void {
    for (const abort of [...this.#calls]) abort(reason)
  }

  /** Runs one granted sync of a stored connection and records its result. */
  async run(
    adapter: ExchangeAdapter,
    connection: Connection,
    trigger: Trigger,
    permit: LimitPermit,
  ): Promise<SyncOutcome> {
    const { clock, events, lifecycle, storeCalls, store } = this.#options
    const base: EventBase = {
      connectionId: connection.id,
      userId: connection.userId,
      exchange: connection.exchange,
      trigger,
    }
    const startedAt = clock.now()
    const aborts = lifecycle.aborts
    if (events.listening('sync:start')) {
      const { connectionId, userId, exchange } = base
      events.emit('sync:start', {
        connectionId,
        userId,
        exchange,
        trigger,
        startedAt,
        lastSyncAt: connection.lastSyncAt,
      })
    }

    let credentials: Credentials | null
    try {
      credentials = await storeCalls.run('store.getCredentials', () => store.getCredentials(connection.id))
    } catch (error) {
      this.#hold(connection.id)
      events.error(`store.getCredentials failed for connection ${connection.id}`, error)
      this.#settle(permit, { now: clock.now(), result: 'failed' })
      return this.#report(base, startedAt, new SyncError('UNKNOWN', 'Could not read the credentials.'), null, false)
    }
    if (!credentials) {
      this.#settle(permit, { now: clock.now(), result: 'failed' })
      return this.#report(base, startedAt, new SyncError('CANCELLED', 'The connection was removed.'), null, false)
    }
    if (lifecycle.aborted(aborts)) {
      this.#settle(permit, { now: clock.now(), result: 'failed' })
      const error = new SyncError('CANCELLED', 'The scheduler stopped before this sync finished.')
      return this.#report(base, startedAt, error, null, false)
    }

    let result: FetchBalancesResult
    try {
      result = validateResult(await this.#call(adapter, connection, credentials))
    } catch (thrown) {
      const error = this.#clean(thrown, credentials)
      return this.#recordFailure(base, connection, credentials, startedAt, error, permit)
    }
    if (result.accountId !== undefined) this.#learnAccount(connection.id, result.accountId)

    const finishedAt = clock.now()
    this.#settle(permit, { now: finishedAt, result: 'ok', usedWeight: result.usage?.usedWeight })
    const nextSyncAt = nextPhaseAt(connection.id, finishedAt, this.#options.intervalMs)
    try {
      await storeCalls.run('store.recordSuccess', () =>
        store.recordSuccess(connection.id, { balances: result.balances, startedAt, finishedAt, nextSyncAt }),
      )
    } catch (error) {
      this.#hold(connection.id)
      events.error(`store.recordSuccess failed for connection ${connection.id}`, error)
      return this.#report(base, startedAt, new SyncError('UNKNOWN', 'Could not store the balances.'), null, false)
    }
    if (events.listening('sync:success')) {
      const { connectionId, userId, exchange } = base
      const balances = result.balances
      events.emit('sync:success', {
        connectionId,
        userId,
        exchange,
        trigger,
        balances,
        startedAt,
        finishedAt,
        nextSyncAt,
      })
    }
    return { ok: true, connectionId: connection.id, balances: result.balances }
  }

  /**
   * Test-fetches keys that are not stored, as a sync would (validated, scrubbed, the limiter settled), recording
   * nothing. `deadlineMs` bounds the call; `signal` is the caller going away.
   */
  async verify(
    adapter: ExchangeAdapter,
    connection: Connection,
    credentials: Credentials,
    permit: LimitPermit,
    { signal, timeoutMs }: { signal?: AbortSignal; timeoutMs: number },
  ): Promise<VerifyCredentialsResult> {
    const { clock } = this.#options
    try {
      const fetched = await this.#call(adapter, { ...connection }, { ...credentials }, { signal, timeoutMs })
      const result = validateResult(fetched)
      this.#settle(permit, { now: clock.now(), result: 'ok', usedWeight: result.usage?.usedWeight })
      return { ok: true, balances: result.balances }
    } catch (thrown) {
      const error = this.#clean(thrown, credentials)
      this.#settle(permit, settlementFor(error, clock.now()))
      return { ok: false, error }
    }
  }

  /**
   * Records that no adapter syncs this connection's exchange: a transient failure, so it syncs again once an
   * adapter for it is configured.
   */
  async recordUnsupported(connection: Connection): Promise<SyncOutcome> {
    const { clock, events, intervalMs, storeCalls, store } = this.#options
    const error = new SyncError(
      'UNSUPPORTED_EXCHANGE',
      `No adapter syncs exchange "${connection.exchange}"; add one to the scheduler's exchanges.`,
    )
    const base: EventBase = {
      connectionId: connection.id,
      userId: connection.userId,
      exchange: connection.exchange,
      trigger: 'sweep',
    }
    const startedAt = clock.now()
    const nextSyncAt = startedAt + intervalMs
    try {
      await storeCalls.run('store.recordFailure', () =>
        store.recordFailure(connection.id, {
          error: { code: error.code, message: error.message },
          startedAt,
          finishedAt: startedAt,
          nextSyncAt,
          disable: false,
        }),
      )
    } catch (storeError) {
      this.#hold(connection.id)
      events.error(`store.recordFailure failed for connection ${connection.id}`, storeError)
      return this.#report(base, startedAt, error, null, false)
    }
    return this.#report(base, startedAt, error, nextSyncAt, false)
  }

  /** An adapter's error as a SyncError whose numbers can be trusted and that holds no credential. */
  #clean(thrown: unknown, credentials: Credentials): SyncError {
    return scrubSyncError(saneSyncError(toSyncError(thrown), this.#options.maxPauseMs), secretValues(credentials))
  }

  /** Calls the adapter; settles as TIMEOUT at `timeoutMs` even if the adapter ignores its signal. */
  #call(
    adapter: ExchangeAdapter,
    connection: Connection,
    credentials: Credentials,
    { signal, timeoutMs = this.#options.timeoutMs }: { signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<unknown> {
    const { clock } = this.#options
    const controller = new AbortController()
    return new Promise<unknown>((resolve, reject) => {
      let settled = false
      let timer: TimerHandle | undefined
      const settle = () => {
        settled = true
        if (timer !== undefined) clock.clearTimeout(timer)
        this.#calls.delete(abort)
        signal?.removeEventListener('abort', onCallerAbort)
      }
      const abort = (reason: SyncError) => {
        if (settled) return
        settle()
        controller.abort(reason)
        reject(reason)
      }
      const onCallerAbort = () => abort(new SyncError('CANCELLED', 'The caller went away before the sync finished.'))
      if (signal?.aborted) return onCallerAbort()
      signal?.addEventListener('abort', onCallerAbort, { once: true })
      this.#calls.add(abort)
      timer = clock.setTimeout(
        () => abort(new SyncError('TIMEOUT', `No answer from ${adapter.id} within ${timeoutMs} ms.`)),
        timeoutMs,
      )
      let answer: Promise<FetchBalancesResult>
      try {
        answer = adapter.fetchBalances({ connection, credentials, signal: controller.signal })
      } catch (error) {
        answer = Promise.reject(error)
      }
      Promise.resolve(answer).then(
        (value) => {
          if (settled) return
          settle()
          resolve(value)
        },
        (error: unknown) => {
          if (settled) return
          settle()
          reject(error)
        },
      )
    })
  }

  async #recordFailure(
    base: EventBase,
    connection: Connection,
    used: Credentials,
    startedAt: number,
    error: SyncError,
    permit: LimitPermit,
  ): Promise<SyncOutcome> {
    const { backoff, clock, events, intervalMs, random, storeCalls, store } = this.#options
    const finishedAt = clock.now()
    this.#settle(permit, settlementFor(error, finishedAt))
    if (error.code === 'CANCELLED') return this.#report(base, startedAt, error, null, false)
    // The whole exchange refused (its shared budget, a ban, the server's IP): the connection did nothing wrong.
    // Nothing is recorded against it, so it keeps its failure count and syncs as soon as the pause ends.
    if (pausesExchange(error)) {
      this.#announce(base.exchange, error, finishedAt)
      return this.#report(base, startedAt, error, null, false)
    }
    // New keys may have arrived while this call ran with the old ones: its failure says nothing about them, and
    // recording it would disable (or back off) a connection the user just repaired.
    if (!(await this.#stillUses(connection.id, used))) return this.#report(base, startedAt, error, null, false)
    const disable = error.permanent
    const delay = backoffDelay(connection.failureCount + 1, backoff, intervalMs, random)
    const nextSyncAt = finishedAt + Math.max(delay, error.retryAfterMs ?? 0)
    try {
      await storeCalls.run('store.recordFailure', () =>
        store.recordFailure(connection.id, {
          error: { code: error.code, message: error.message },
          startedAt,
          finishedAt,
          nextSyncAt,
          disable,
        }),
      )
    } catch (storeError) {
      this.#hold(connection.id)
      events.error(`store.recordFailure failed for connection ${connection.id}`, storeError)
    }
    const outcome = this.#report(base, startedAt, error, nextSyncAt, disable)
    if (disable) {
      const { connectionId, userId, exchange } = base
      events.emit('connection:disabled', { connectionId, userId, exchange, error })
    }
    return outcome
  }

  async #stillUses(connectionId: string, used: Credentials): Promise<boolean> {
    const { storeCalls, store } = this.#options
    try {
      const current = await storeCalls.run('store.getCredentials', () => store.getCredentials(connectionId))
      return current !== null && sameCredentials(current, used)
    } catch {
      return true
    }
  }

  /**
   * Tells the limiter how a sync ended; a pause it starts is announced as a `ratelimit` event. Synchronous for an
   * in-process limiter; a limiter that answers with a promise is awaited in the background.
   */
  #settle(permit: LimitPermit, settlement: LimitSettlement): void {
    const { events, limiter } = this.#options
    const failed = (error: unknown) => events.error(`The limiter failed to settle a sync of ${permit.exchange}`, error)
    let settled: ReturnType<SyncLimiter['settle']>
    try {
      settled = limiter.settle(permit, settlement)
    } catch (error) {
      failed(error)
      return
    }
    if (settled !== undefined && typeof (settled as Promise<unknown>).then === 'function') {
      ;(settled as Promise<LimitSettleResult | undefined>).then(
        (result) => this.#announcePause(permit, settlement, result),
        failed,
      )
    } else this.#announcePause(permit, settlement, settled as LimitSettleResult | undefined)
  }

  #announcePause(permit: LimitPermit, settlement: LimitSettlement, settled: LimitSettleResult | undefined): void {
    const paused = settled?.pausedUntil
    if (paused === undefined || settlement.result !== 'rate-limited') return
    const scope = settlement.scope ?? 'exchange'
    const key = scope === 'account' ? (this.#accounts.get(permit.connectionId) ?? permit.connectionId) : permit.exchange
    this.#options.events.emit('ratelimit', {
      exchange: permit.exchange,
      scope,
      key,
      waitMs: paused - settlement.now,
      reason: 'retry-after',
    })
  }

  /** One warning per pause when the exchange refuses the whole server for a reason other than its budget. */
  #announce(exchange: string, error: SyncError, now: number): void {
    if (error.code === 'RATE_LIMITED') return
    const until = this.#announced.get(exchange)
    if (until !== undefined && until > now) return
    this.#announced.set(exchange, now + (error.retryAfterMs ?? 0))
    this.#options.events.emit('warning', {
      code: 'EXCHANGE_PAUSED',
      exchange,
      message: `${exchange} refused this server (${error.code}): ${error.message} Every connection of ${exchange} waits ${Math.ceil((error.retryAfterMs ?? 0) / 1000)} s; none is disabled.`,
    })
  }

  #learnAccount(connectionId: string, accountId: string): void {
    if (this.#accounts.get(connectionId) === accountId) return
    if (this.#accounts.size >= MAX_ACCOUNTS) this.#accounts.delete(this.#accounts.keys().next().value as string)
    this.#accounts.set(connectionId, accountId)
  }

  #report(
    base: EventBase,
    startedAt: number,
    error: SyncError,
    nextSyncAt: number | null,
    disabled: boolean,
  ): SyncOutcome {
    const finishedAt = this.#options.clock.now()
    this.#options.events.emit('sync:failure', { ...base, error, startedAt, finishedAt, nextSyncAt, disabled })
    return { ok: false, connectionId: base.connectionId, error }
  }

  #hold(connectionId: string): void {
    const now = this.#options.clock.now()
    if (this.#held.size > 10_000) for (const [id, until] of this.#held) if (until <= now) this.#held.delete(id)
    this.#held.set(connectionId, now + this.#options.intervalMs)
  }
}

/** True for a refusal of the whole exchange: its shared budget, or a pause it asked of every connection. */
export function pausesExchange(error: SyncError): boolean {
  if (error.scope !== 'exchange') return false
  return error.code === 'RATE_LIMITED' || error.retryAfterMs !== undefined
}

/** How the limiter should count a failed sync. */
export function settlementFor(error: SyncError, now: number): LimitSettlement {
  if (error.code === 'RATE_LIMITED') {
    return { now, result: 'rate-limited', retryAfterMs: error.retryAfterMs, scope: error.scope ?? 'exchange' }
  }
  if (pausesExchange(error)) return { now, result: 'rate-limited', retryAfterMs: error.retryAfterMs, scope: 'exchange' }
  return { now, result: 'failed' }
}

/**
 * A SyncError whose numbers the scheduler can act on: a `retryAfterMs` that is NaN or negative is dropped (as if
 * the exchange had not said), one past `maxPauseMs` (Infinity included) is cut to it, and an unknown `scope` is
 * dropped. An adapter doing `Number(header) * 1000` on a missing header must not stop an exchange for good.
 */
export function saneSyncError(error: SyncError, maxPauseMs: number): SyncError {
  const { retryAfterMs, scope } = error
  const saneScope = scope === 'exchange' || scope === 'account' ? scope : undefined
  let saneRetry: number | undefined = retryAfterMs
  if (retryAfterMs !== undefined) {
    if (typeof retryAfterMs !== 'number' || Number.isNaN(retryAfterMs) || retryAfterMs < 0) saneRetry = undefined
    else if (retryAfterMs > maxPauseMs) saneRetry = maxPauseMs
  }
  if (saneRetry === retryAfterMs && saneScope === scope) return error
  const copy = new SyncError(error.code, error.message, {
    retryAfterMs: saneRetry,
    scope: saneScope,
    cause: error.cause,
  })
  copy.stack = error.stack
  return copy
}

function sameCredentials(a: Credentials, b: Credentials): boolean {
  return a.apiKey === b.apiKey && a.secret === b.secret && a.password === b.password && a.uid === b.uid
}
