import {
  type Credentials,
  type ExchangeAdapter,
  type FetchBalancesRequest,
  type FetchBalancesResult,
  InvalidOptionError,
  type SyncError,
} from '@syncfolio/core'
import { AccountIds } from './accountIds.js'
import { binanceDialect } from './binanceDialect.js'
import { type CcxtInstance, exchangeClass } from './ccxtInstance.js'
import { classifyCcxtError, isJsonText } from './classifyCcxtError.js'
import type { ExchangeDialect } from './exchangeDialect.js'
import { genericDialect } from './genericDialect.js'
import { InstancePool, type PooledInstance, type PoolStats } from './instancePool.js'
import { okxDialect } from './okxDialect.js'
import { type CcxtAdapterOptions, type ResolvedCcxtAdapterOptions, resolveCcxtAdapterOptions } from './options.js'
import { repointUrls } from './repointUrls.js'

/** An ExchangeAdapter over ccxt, with its instance pool open to inspection. */
export interface CcxtAdapter extends ExchangeAdapter {
  /** The ccxt exchange id, also the adapter's id. */
  readonly id: string
  /** Instances built, idle and busy. */
  poolStats(): PoolStats
}

type FetchLike = (url: string, init: RequestInit) => Promise<Response>

/** Exchanges read from their raw JSON, keeping the exchange's own digits. */
const DIALECTS: Record<string, ExchangeDialect> = { binance: binanceDialect, okx: okxDialect }

/**
 * An ExchangeAdapter that fetches balances through ccxt, built for many accounts at once:
 *
 * - a pool of ccxt instances (one call in flight per instance, the keys set per call), so an account's request is
 *   always signed with its own key and a warm sync is exactly one HTTP request;
 * - Binance and OKX balances read from the exchange's own JSON as exact decimal strings; other exchanges through
 *   ccxt's `fetchBalance`, converted from floats to plain decimal strings;
 * - every failure as a SyncError with the right code, `retryAfterMs` and `scope`, and no credential in its message;
 * - the sync's AbortSignal aborts the HTTP request; Binance's `X-MBX-USED-WEIGHT-1M` is reported as `usage`.
 * - OKX reports the user id the keys belong to as `accountId` (asked once per key), since OKX counts limits per user;
 * - an answer that refuses the server's IP for every key (Binance 451, OKX 50121) pauses the exchange instead of
 *   failing the connection, and a Binance -2015 while a recent 429/418 pause runs is not taken for a bad key.
 *
 * ccxt's own rate limiter is off (`enableRateLimit: false`): it counts per instance, while the exchange counts per
 * IP or per account. The scheduler's budgets own rate limits.
 */
export function createCcxtAdapter(exchangeId: string, options: CcxtAdapterOptions = {}): CcxtAdapter {
  const Exchange = exchangeClass(exchangeId)
  if (!Exchange) {
    throw new InvalidOptionError(
      'createCcxtAdapter',
      'exchangeId',
      'is not an exchange id of the installed ccxt',
      exchangeId,
    )
  }
  const resolved = resolveCcxtAdapterOptions(options)
  const dialect = DIALECTS[exchangeId] ?? genericDialect(exchangeId)
  const build = () => buildInstance(Exchange, resolved, dialect)
  const pool = new InstancePool(build, resolved.maxIdleInstances)
  const markets = dialect.needsMarkets ? new MarketsTemplate(exchangeId, dialect, build) : undefined
  const { clock } = resolved
  const accountIds = dialect.accountId ? new AccountIds() : undefined
  /** Until when the exchange refused this server for a rate limit (429, 418, WAF), as the last answers said. */
  let exchangePausedUntil = 0

  /** The account id of the keys: learned once per key; a failed lookup never fails the sync. */
  async function accountIdOf(slot: PooledInstance, credentials: Credentials, signal: AbortSignal | undefined) {
    const { apiKey } = credentials
    if (!accountIds || !dialect.accountId || typeof apiKey !== 'string' || apiKey === '') return undefined
    const known = accountIds.idOf(apiKey)
    if (known !== undefined || !accountIds.due(apiKey, clock.now())) return known
    try {
      const id = await dialect.accountId(slot.instance)
      if (id !== undefined) accountIds.learned(apiKey, id)
      return id
    } catch (error) {
      if (signal?.aborted) throw error
      accountIds.failed(apiKey, clock.now())
      return undefined
    } finally {
      slot.trace.status = undefined
      slot.trace.headers = undefined
      slot.instance.last_http_response = undefined
    }
  }

  async function fetchBalances({ credentials, signal }: FetchBalancesRequest): Promise<FetchBalancesResult> {
    const secrets = credentialValues(credentials)
    if (signal?.aborted) throw classifyCcxtError(undefined, idleContext(exchangeId, dialect, signal, secrets))
    const template = markets ? await markets.ready(signal, secrets) : undefined
    const slot = pool.acquire()
    const { instance } = slot
    try {
      if (template && slot.marketsFrom !== template) {
        instance.setMarketsFromExchange(template)
        slot.marketsFrom = template
        slot.baseline = cloneOptions(instance.options)
      }
      begin(slot, credentials, signal)
      const accountId = await accountIdOf(slot, credentials, signal)
      if (signal?.aborted) throw signal.reason
      const response = await dialect.fetch(instance)
      if (signal?.aborted) throw signal.reason
      // ccxt hands back the raw text of a 200 whose body is not JSON instead of throwing (or, in fetchBalance,
      // parses that text into an empty balance): never take it for an answer.
      if (typeof response === 'string' || !isJsonText(instance.last_http_response)) {
        throw new Error('The response body is not JSON.')
      }
      const balances = dialect.parse(response, instance)
      const usedWeight = dialect.usedWeight(slot.trace)
      const result: FetchBalancesResult = { balances }
      if (usedWeight !== undefined) result.usage = { usedWeight }
      if (accountId !== undefined) result.accountId = accountId
      return result
    } catch (error) {
      const now = clock.now()
      const failure = classifyCcxtError(error, {
        exchangeId,
        dialect,
        trace: slot.trace,
        body: instance.last_http_response,
        signal,
        secrets,
        now,
        exchangePausedUntil,
      })
      if (failure.code === 'RATE_LIMITED' && failure.scope === 'exchange' && failure.retryAfterMs !== undefined) {
        exchangePausedUntil = Math.max(exchangePausedUntil, now + failure.retryAfterMs)
      }
      throw failure
    } finally {
      end(slot)
      pool.release(slot)
    }
  }

  return { id: exchangeId, fetchBalances, poolStats: () => pool.stats() }
}

/** Builds one pooled instance: its fetch honours the call's signal and records status and headers. */
function buildInstance(
  Exchange: new (config: Record<string, unknown>) => unknown,
  options: ResolvedCcxtAdapterOptions,
  dialect: ExchangeDialect,
): PooledInstance {
  const userFetch = options.ccxt.fetchImplementation as FetchLike | undefined
  const slot = {
    instance: undefined as unknown as CcxtInstance,
    signal: undefined as AbortSignal | undefined,
    trace: { status: undefined as number | undefined, headers: undefined as Headers | undefined },
    marketsFrom: undefined as CcxtInstance | undefined,
    baseline: undefined as Record<string, unknown> | undefined,
    disposers: [] as Array<() => void>,
  }
  // A fetch of our own: ccxt's default HTTP client takes no outside AbortSignal and is invisible to msw.
  const fetchImplementation = async (url: string, init: RequestInit = {}): Promise<Response> => {
    const { signal, dispose } = eitherSignal(init.signal ?? undefined, slot.signal)
    if (dispose) slot.disposers.push(dispose)
    const response = userFetch
      ? await userFetch(url, { ...init, signal })
      : await globalThis.fetch(url, {
          method: init.method,
          headers: init.headers,
          body: init.body,
          signal,
          redirect: 'error',
        })
    slot.trace.status = response.status
    slot.trace.headers = response.headers
    return response
  }
  slot.instance = new Exchange({
    enableRateLimit: false,
    ...options.ccxt,
    fetchImplementation,
    enableLastHttpResponse: true,
    enableLastResponseHeaders: true,
  }) as CcxtInstance
  if (options.baseUrl !== undefined) repointUrls(slot.instance, options.baseUrl)
  // Balances need no markets on these exchanges: an empty set keeps ccxt from loading them (6-7 requests).
  if (!dialect.needsMarkets) slot.instance.setMarkets([])
  return slot
}

function begin(slot: PooledInstance, credentials: Credentials, signal: AbortSignal | undefined): void {
  const { instance } = slot
  if (slot.baseline) instance.options = cloneOptions(slot.baseline)
  instance.apiKey = credentials.apiKey
  instance.secret = credentials.secret
  instance.password = credentials.password
  instance.uid = credentials.uid
  // Binance reads a -2015 after a first success as a temporary ban; with pooled keys that success was someone else's.
  if ('hasAlreadyAuthenticatedSuccessfully' in instance.options) {
    instance.options.hasAlreadyAuthenticatedSuccessfully = false
  }
  // Per-account state some exchanges cache on the instance (account ids).
  instance.accounts = undefined
  instance.accountsById = undefined
  instance.last_http_response = undefined
  instance.last_response_headers = undefined
  instance.last_json_response = undefined
  slot.trace.status = undefined
  slot.trace.headers = undefined
  slot.signal = signal
}

/** Nothing of the account stays on an idle instance. */
function end(slot: PooledInstance): void {
  const { instance } = slot
  instance.apiKey = undefined
  instance.secret = undefined
  instance.password = undefined
  instance.uid = undefined
  instance.last_http_response = undefined
  instance.last_response_headers = undefined
  instance.last_json_response = undefined
  slot.signal = undefined
  for (const dispose of slot.disposers.splice(0)) dispose()
}

/**
 * One instance, without credentials, that loads the exchange's markets once; every pooled instance shares them by
 * reference (`setMarketsFromExchange`) instead of loading its own. A failed load is retried by the next sync.
 */
class MarketsTemplate {
  readonly #exchangeId: string
  readonly #dialect: ExchangeDialect
  readonly #build: () => PooledInstance
  #loading: Promise<CcxtInstance> | undefined

  constructor(exchangeId: string, dialect: ExchangeDialect, build: () => PooledInstance) {
    this.#exchangeId = exchangeId
    this.#dialect = dialect
    this.#build = build
  }

  ready(signal: AbortSignal | undefined, secrets: readonly string[]): Promise<CcxtInstance> {
    this.#loading ??= this.#load().catch((error: unknown) => {
      this.#loading = undefined
      throw error
    })
    return untilAborted(this.#loading, signal, () =>
      classifyCcxtError(undefined, idleContext(this.#exchangeId, this.#dialect, signal, secrets)),
    )
  }

  async #load(): Promise<CcxtInstance> {
    const slot = this.#build()
    try {
      await slot.instance.loadMarkets()
      return slot.instance
    } catch (error) {
      throw classifyCcxtError(error, {
        exchangeId: this.#exchangeId,
        dialect: this.#dialect,
        trace: slot.trace,
        body: slot.instance.last_http_response,
        signal: undefined,
        secrets: [],
      })
    }
  }
}

/**
 * A signal that aborts when either does, with that one's reason, and a `dispose` that detaches it from the second
 * (the caller's signal may outlive the call). `AbortSignal.any` would need Node 20.3 and cannot be detached.
 */
function eitherSignal(
  first: AbortSignal | undefined,
  second: AbortSignal | undefined,
): { signal: AbortSignal | undefined; dispose?: () => void } {
  if (!first || !second) return { signal: first ?? second }
  if (first.aborted) return { signal: first }
  if (second.aborted) return { signal: second }
  const controller = new AbortController()
  const onFirst = () => controller.abort(first.reason)
  const onSecond = () => controller.abort(second.reason)
  first.addEventListener('abort', onFirst, { once: true })
  second.addEventListener('abort', onSecond, { once: true })
  return { signal: controller.signal, dispose: () => second.removeEventListener('abort', onSecond) }
}

/** Resolves or rejects with the promise, or rejects as soon as the signal aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined, aborted: () => SyncError): Promise<T> {
  if (!signal) return promise
  if (signal.aborted) return Promise.reject(aborted())
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(aborted())
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(error)
      },
    )
  })
}

function idleContext(
  exchangeId: string,
  dialect: ExchangeDialect,
  signal: AbortSignal | undefined,
  secrets: readonly string[],
) {
  return { exchangeId, dialect, trace: { status: undefined, headers: undefined }, body: undefined, signal, secrets }
}

function credentialValues(credentials: Credentials): string[] {
  return Object.values(credentials).filter((value): value is string => typeof value === 'string' && value !== '')
}

/** A deep copy of plain objects and arrays; functions and class instances are shared. */
function cloneOptions<T>(value: T): T {
  if (Array.isArray(value)) return value.map(cloneOptions) as T
  if (typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, cloneOptions(entry)])) as T
  }
  return value
}
