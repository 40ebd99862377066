import { InvalidOptionError } from '@syncfolio/core'
import { parseOptions } from '@syncfolio/core/runner'
import { z } from 'zod'
import { BinanceApi, type FakeWeightWindow, toScale } from './binanceApi.js'
import type { AccountState, ApiHost, ApiReply, ApiRequest, ExchangeApi } from './exchangeApi.js'
import {
  type FakeFault,
  type FakeFaultHandle,
  type FakeFaultTarget,
  fakeFaultSchema,
  fakeFaultTargetSchema,
} from './fakeFault.js'
import { type FakeKeyConcurrency, KeyConcurrency } from './keyConcurrency.js'
import { OkxApi } from './okxApi.js'
import {
  type FakeAccountOptions,
  type FakeBalance,
  type FakeBalances,
  type FakeExchangeId,
  type FakeExchangeOptions,
  fakeAccountSchema,
  fakeBalanceSchema,
  type ResolvedFakeExchangeOptions,
  resolveFakeExchangeOptions,
} from './options.js'

/** One request the fake received, for assertions. */
export interface FakeRequest {
  /** The fake's clock when it arrived, epoch ms. */
  at: number
  /** Which protocol answered, or null for a path neither owns. */
  exchange: FakeExchangeId | null
  method: string
  path: string
  /** The query string without the signature. */
  query: string
  /** The API key it carried (`X-MBX-APIKEY` or `OK-ACCESS-KEY`), or null. */
  apiKey: string | null
  ip: string
  /** HTTP status sent; 0 when the fake hung or dropped the connection. */
  status: number
  /** The exchange's error code in the answer, e.g. `-2015` or `50011`, or null. */
  code: string | null
  /** Request weight counted against the IP (Binance), else 0. */
  weight: number
  /** The injected fault that shaped the answer, or null. */
  fault: FakeFault['type'] | null
}

/** A handle on one fake account. */
export interface FakeAccount {
  readonly exchange: FakeExchangeId
  readonly apiKey: string
  /** The exchange's user id of the account (OKX `uid`); keys of one user share it. */
  readonly uid: number
  /** True after `revoke()`: every signed request with this key is refused. */
  readonly revoked: boolean
  /** The balances the account holds now. */
  balances(): FakeBalance[]
  /** Replaces the balances; the next balance request sees them. */
  setBalances(balances: FakeBalances): void
  /** Refuses the key from now on, as when the user deletes it on the exchange. */
  revoke(): void
  /** Accepts the key again. */
  restore(): void
}

/** The transport-neutral request the protocol code answers (node:http and msw both build one). */
export interface FakeHttpRequest {
  method: string
  /** Path and query, e.g. `/api/v3/account?timestamp=1&signature=ab`. */
  url: string
  headers: Record<string, string | string[] | undefined> | Headers
  body?: string
  /** The caller's IP, for Binance's per-IP weight. @default '127.0.0.1' */
  ip?: string
  signal?: AbortSignal
}

export type FakeHttpReply = Extract<ApiReply, { kind: string }>

interface FaultEntry {
  fault: FakeFault
  target: FakeFaultTarget
  hits: number
}

const OWNER = 'FakeExchange'

/**
 * A protocol-true fake of Binance spot and OKX v5 for balance syncs: signed requests checked per API key,
 * per-account balances, the exchanges' own rate limits and error bodies, injected faults, and a request log.
 * It answers requests but opens no port: serve it with `startFakeExchange` (a real HTTP server on 127.0.0.1) or
 * with the msw handlers of `@syncfolio/testing/msw`.
 */
export class FakeExchange {
  readonly #options: ResolvedFakeExchangeOptions
  readonly #accounts: Record<FakeExchangeId, Map<string, AccountRecord>> = { binance: new Map(), okx: new Map() }
  readonly #faults: FaultEntry[] = []
  readonly #log: FakeRequest[] = []
  readonly #binance: BinanceApi
  readonly #apis: ExchangeApi[]
  /** Releases every request the fake is holding open (hang faults, latency). */
  readonly #pending = new Set<() => void>()
  readonly #keyConcurrency = new KeyConcurrency()
  #nextUid = 100_000_001

  constructor(options: FakeExchangeOptions = {}) {
    this.#options = resolveFakeExchangeOptions(OWNER, options)
    const host: ApiHost = {
      options: this.#options,
      account: (exchange, apiKey) => this.#accounts[exchange].get(apiKey),
      takeFaults: (exchange, apiKey, path) => this.#takeFaults(exchange, apiKey, path),
      wait: (ms, signal) => this.#wait(ms, signal),
    }
    this.#binance = new BinanceApi(host)
    this.#apis = [this.#binance, new OkxApi(host)]
    for (const account of this.#options.accounts) this.addAccount(account)
  }

  /** Adds an account (or replaces the one with the same exchange and key). */
  addAccount(options: FakeAccountOptions): FakeAccount {
    const parsed = parseOptions(OWNER, fakeAccountSchema, options, 'account') as FakeAccountOptions
    const record = new AccountRecord(parsed, parsed.uid ?? this.#nextUid++)
    this.#accounts[parsed.exchange].set(parsed.apiKey, record)
    return this.#handleOf(record)
  }

  /** The account with this key, if any. */
  account(exchange: FakeExchangeId, apiKey: string): FakeAccount | undefined {
    const record = this.#accounts[exchange].get(apiKey)
    return record && this.#handleOf(record)
  }

  /** Removes an account; its key is refused from then on. */
  removeAccount(exchange: FakeExchangeId, apiKey: string): boolean {
    return this.#accounts[exchange].delete(apiKey)
  }

  /**
   * Makes requests go wrong until the returned handle's `remove()` (or after `target.times` requests). Faults
   * apply before the signature is checked; on Binance after the IP's weight is counted, on OKX before the
   * per-account limit.
   */
  inject(fault: FakeFault, target: FakeFaultTarget = {}): FakeFaultHandle {
    const entry: FaultEntry = {
      fault: parseOptions(OWNER, fakeFaultSchema, fault, 'fault') as FakeFault,
      target: parseOptions(OWNER, fakeFaultTargetSchema, target, 'target'),
      hits: 0,
    }
    this.#faults.push(entry)
    const faults = this.#faults
    return {
      get hits() {
        return entry.hits
      },
      remove: () => {
        const index = faults.indexOf(entry)
        if (index !== -1) faults.splice(index, 1)
      },
    }
  }

  /** Removes every injected fault and lets go of requests held open by `hang`. */
  clearFaults(): void {
    this.#faults.length = 0
    this.releasePending()
  }

  /** Every request received, oldest first (up to `maxLogEntries`). */
  get requests(): readonly FakeRequest[] {
    return this.#log
  }

  clearRequests(): void {
    this.#log.length = 0
  }

  /**
   * Binance request weight the IP has used on `/api/*` in the current window (a minute unless
   * `binance.weightWindowMs` says otherwise): what `X-MBX-USED-WEIGHT-1M` says.
   */
  usedWeight(ip = '127.0.0.1'): number {
    return this.#binance.usedWeight(ip, this.#options.clock.now())
  }

  /**
   * Every Binance weight window of the IP that saw a request, oldest first (the last 10,000): its `/api/*` weight
   * and the requests refused in it. A test asserts "no window over budget" on it:
   *
   * ```ts
   * expect(fake.weightWindows().filter((window) => window.used > budget)).toEqual([])
   * ```
   */
  weightWindows(ip = '127.0.0.1'): FakeWeightWindow[] {
    return this.#binance.weightWindows(ip)
  }

  /**
   * The most requests of one API key (Binance `X-MBX-APIKEY`, OKX `OK-ACCESS-KEY`) the fake answered at once, which
   * key it was, and how many requests overlapped another of their key. Two syncs of one account at the same time
   * show as `peak: 2`.
   */
  keyConcurrency(): FakeKeyConcurrency {
    return this.#keyConcurrency.snapshot()
  }

  /** Counts `keyConcurrency()`'s `peak` and `overlapping` afresh from now. */
  resetKeyConcurrency(): void {
    this.#keyConcurrency.reset()
  }

  /** Answers held-open requests with a dropped connection; used when the server closes. */
  releasePending(): void {
    for (const release of [...this.#pending]) release()
    this.#pending.clear()
  }

  /** Answers one request in the exchange's protocol. Transport-neutral: node:http and msw call it. */
  async reply(request: FakeHttpRequest): Promise<FakeHttpReply> {
    const now = this.#options.clock.now()
    const header = headerReader(request.headers)
    const apiKey = header('x-mbx-apikey') ?? header('ok-access-key')
    const leave = apiKey === undefined ? undefined : this.#keyConcurrency.enter(apiKey)
    try {
      return await this.#answer(request, header, now)
    } finally {
      leave?.()
    }
  }

  async #answer(
    request: FakeHttpRequest,
    header: (name: string) => string | undefined,
    now: number,
  ): Promise<FakeHttpReply> {
    const queryAt = request.url.indexOf('?')
    const path = queryAt === -1 ? request.url : request.url.slice(0, queryAt)
    const rawQuery = queryAt === -1 ? '' : request.url.slice(queryAt + 1)
    const apiRequest: ApiRequest = {
      method: request.method.toUpperCase(),
      path,
      rawQuery,
      query: new URLSearchParams(rawQuery),
      header,
      body: request.body ?? '',
      ip: request.ip ?? '127.0.0.1',
      now,
      signal: request.signal,
    }
    const api = this.#apis.find((candidate) => candidate.owns(path))
    let reply: ApiReply
    if (!api) {
      reply = { kind: 'response', status: 404, headers: { 'content-type': 'text/plain' }, body: 'Not Found' }
    } else {
      reply = await api.handle(apiRequest)
      if (reply.kind === 'hang') reply = await this.#hang(request.signal, reply)
    }
    this.#record(apiRequest, api?.id ?? null, reply)
    return reply
  }

  /** Answers a Fetch API Request, e.g. from msw or any fetch-style router. */
  async handle(request: Request, { ip }: { ip?: string } = {}): Promise<Response> {
    const url = new URL(request.url)
    const body = request.method === 'GET' || request.method === 'HEAD' ? '' : await request.text()
    const reply = await this.reply({
      method: request.method,
      url: url.pathname + url.search,
      headers: request.headers,
      body,
      ip,
      signal: request.signal,
    })
    if (reply.kind !== 'response') return Response.error()
    return new Response(reply.body, { status: reply.status, headers: reply.headers })
  }

  #handleOf(record: AccountRecord): FakeAccount {
    const clock = this.#options.clock
    return {
      exchange: record.exchange,
      apiKey: record.apiKey,
      uid: record.uid,
      get revoked() {
        return record.revoked
      },
      balances: () => record.balancesAt(clock.now()),
      setBalances: (balances) => record.setBalances(balances),
      revoke: () => {
        record.revoked = true
      },
      restore: () => {
        record.revoked = false
      },
    }
  }

  #takeFaults(exchange: FakeExchangeId, apiKey: string | undefined, path: string): FakeFault[] {
    const matched: FakeFault[] = []
    for (const entry of [...this.#faults]) {
      const { target } = entry
      if (target.exchange !== undefined && target.exchange !== exchange) continue
      if (target.apiKey !== undefined && target.apiKey !== apiKey) continue
      if (target.path !== undefined && !path.startsWith(target.path)) continue
      entry.hits++
      matched.push(entry.fault)
      if (target.times !== undefined && entry.hits >= target.times) this.#faults.splice(this.#faults.indexOf(entry), 1)
    }
    return matched
  }

  #wait(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
    const { clock } = this.#options
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve(false)
      const finish = (value: boolean) => {
        clock.clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        this.#pending.delete(onAbort)
        resolve(value)
      }
      const onAbort = () => finish(false)
      const timer = clock.setTimeout(() => finish(true), ms)
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#pending.add(onAbort)
    })
  }

  /** Holds the request open until the client leaves or the fake lets go; then there is nothing to send. */
  #hang(signal: AbortSignal | undefined, reply: ApiReply): Promise<ApiReply> {
    return new Promise((resolve) => {
      const release = () => {
        signal?.removeEventListener('abort', release)
        this.#pending.delete(release)
        resolve({ ...reply, kind: 'disconnect' })
      }
      if (signal?.aborted) return release()
      signal?.addEventListener('abort', release, { once: true })
      this.#pending.add(release)
    })
  }

  #record(request: ApiRequest, exchange: FakeExchangeId | null, reply: ApiReply): void {
    const apiKey = request.header('x-mbx-apikey') ?? request.header('ok-access-key') ?? null
    this.#log.push({
      at: request.now,
      exchange,
      method: request.method,
      path: request.path,
      query: request.rawQuery
        .split('&')
        .filter((pair) => pair !== '' && !pair.startsWith('signature='))
        .join('&'),
      apiKey,
      ip: request.ip,
      status: reply.kind === 'response' ? reply.status : 0,
      code: reply.code ?? null,
      weight: reply.weight ?? 0,
      fault: reply.fault ?? null,
    })
    if (this.#log.length > this.#options.maxLogEntries)
      this.#log.splice(0, this.#log.length - this.#options.maxLogEntries)
  }
}

/** A fake account's key, secret and balances. */
class AccountRecord implements AccountState {
  readonly exchange: FakeExchangeId
  readonly apiKey: string
  readonly secret: string
  readonly password: string | undefined
  readonly uid: number
  readonly okxAccountLevel: '1' | '2' | '3' | '4'
  revoked = false
  #balances: FakeBalances = []

  constructor(options: FakeAccountOptions, uid: number) {
    this.exchange = options.exchange
    this.apiKey = options.apiKey
    this.secret = options.secret
    this.password = options.password
    this.uid = uid
    this.okxAccountLevel = options.okxAccountLevel ?? '1'
    this.setBalances(options.balances ?? [])
  }

  setBalances(balances: FakeBalances): void {
    if (typeof balances === 'function') {
      this.#balances = balances
      return
    }
    validateBalances(this.exchange, balances, 'balances')
    this.#balances = balances.map((balance) => ({ ...balance }))
  }

  balancesAt(now: number): FakeBalance[] {
    const balances = this.#balances
    if (typeof balances !== 'function') return balances.map((balance) => ({ ...balance }))
    const list = balances(now)
    validateBalances(this.exchange, list, 'balances(now)')
    return list.map((balance) => ({ ...balance }))
  }
}

/** Builds a FakeExchange; see the class. */
export function createFakeExchange(options: FakeExchangeOptions = {}): FakeExchange {
  return new FakeExchange(options)
}

function validateBalances(exchange: FakeExchangeId, balances: readonly FakeBalance[], field: string): void {
  parseOptions(OWNER, z.array(fakeBalanceSchema), balances, field)
  const seen = new Set<string>()
  balances.forEach((balance, index) => {
    if (seen.has(balance.asset)) {
      throw new InvalidOptionError(OWNER, `${field}.${index}.asset`, 'appears twice', balance.asset)
    }
    seen.add(balance.asset)
    if (exchange === 'binance') {
      for (const key of ['free', 'used'] as const) {
        const value = balance[key]
        if (value === undefined) continue
        try {
          toScale(value)
        } catch {
          throw new InvalidOptionError(
            OWNER,
            `${field}.${index}.${key}`,
            'has more than 8 decimals (Binance sends 8)',
            value,
          )
        }
      }
    }
  })
}

function headerReader(headers: FakeHttpRequest['headers']): (name: string) => string | undefined {
  if (headers instanceof Headers) return (name) => headers.get(name) ?? undefined
  return (name) => {
    const value = headers[name.toLowerCase()]
    return Array.isArray(value) ? value[0] : value
  }
}
