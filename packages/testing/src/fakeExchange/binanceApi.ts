import { createHmac, timingSafeEqual } from 'node:crypto'
import {
  type AccountState,
  type ApiHost,
  type ApiReply,
  type ApiRequest,
  applyFaults,
  type ExchangeApi,
  htmlPage,
  htmlReply,
  jsonReply,
  type ReplyNote,
  type TerminalFault,
  wafReply,
} from './exchangeApi.js'
import { fakeErrorAnswer } from './fakeFault.js'
import {
  binanceCoinConfig,
  binanceFuturesExchangeInfo,
  binanceMarginPairs,
  binanceSpotExchangeInfo,
  intervalName,
  KNOWN_ASSETS,
} from './fixtures.js'
import type { FakeBalance } from './options.js'

/** Binance counts weight per IP in separate pools, each reported in its own header. */
type Pool = 'api' | 'sapi' | 'fapi' | 'dapi'

const POOL_HEADER: Record<Pool, string> = {
  api: 'x-mbx-used-weight-1m',
  sapi: 'x-sapi-used-ip-weight-1m',
  fapi: 'x-mbx-used-weight-1m',
  dapi: 'x-mbx-used-weight-1m',
}

interface RouteContext {
  request: ApiRequest
  account: AccountState | undefined
  now: number
}

interface Route {
  weight: number
  pool: Pool
  /** Needs `X-MBX-APIKEY` and an HMAC signature. */
  signed: boolean
  answer(context: RouteContext, api: BinanceApi): unknown
}

const MAX_BAN_MS = 3 * 24 * 60 * 60_000
/** Binance spot reports every amount with 8 decimals. */
const SCALE = 8

/** Windows of one IP kept for `weightWindows`; the oldest go first. */
const MAX_WINDOWS = 10_000

/** One window of an IP's `/api/*` weight, as `FakeExchange.weightWindows` lists them. */
export interface FakeWeightWindow {
  /** Start of the window, epoch ms on the fake's clock (a multiple of `binance.weightWindowMs`). */
  start: number
  /** Its end (exclusive): `start + binance.weightWindowMs`. */
  end: number
  /** `/api/*` weight counted in it: what `X-MBX-USED-WEIGHT-1M` said last. Never above `limit`. */
  used: number
  /** The `/api/*` limit it was counted against (`binance.weightPerMinute`). */
  limit: number
  /** Requests refused in it for weight or a ban (429 or 418), on any pool. */
  refused: number
}

/** Per-IP weight in the current window, 429s received in it, and the ban state. */
interface IpState {
  windowStart: number
  used: Record<Pool, number>
  violations: number
  bannedUntil: number
  bans: number
  /** Every window of the IP that saw a request, the current one last. */
  history: FakeWeightWindow[]
}

/** What ccxt asks Binance for on loadMarkets and fetchBalance, with the weights Binance documents. */
const ROUTES: Record<string, Route> = {
  'GET /api/v3/ping': { weight: 1, pool: 'api', signed: false, answer: () => ({}) },
  'GET /api/v3/time': { weight: 1, pool: 'api', signed: false, answer: ({ now }) => ({ serverTime: now }) },
  'GET /api/v3/exchangeInfo': {
    weight: 20,
    pool: 'api',
    signed: false,
    answer: ({ now }, api) => binanceSpotExchangeInfo(now, api.weightPerMinute, api.windowMs),
  },
  'GET /api/v3/account': {
    weight: 20,
    pool: 'api',
    signed: true,
    answer: ({ request, account, now }) => accountPayload(account as AccountState, request, now),
  },
  'GET /sapi/v1/capital/config/getall': {
    weight: 10,
    pool: 'sapi',
    signed: true,
    answer: ({ account, now }) => coinConfigs(account as AccountState, now),
  },
  'GET /sapi/v1/margin/allPairs': { weight: 1, pool: 'sapi', signed: true, answer: () => binanceMarginPairs(false) },
  'GET /sapi/v1/margin/isolated/allPairs': {
    weight: 10,
    pool: 'sapi',
    signed: true,
    answer: () => binanceMarginPairs(true),
  },
  'GET /fapi/v1/exchangeInfo': {
    weight: 1,
    pool: 'fapi',
    signed: false,
    answer: ({ now }) => binanceFuturesExchangeInfo(now, 'linear'),
  },
  'GET /dapi/v1/exchangeInfo': {
    weight: 1,
    pool: 'dapi',
    signed: false,
    answer: ({ now }) => binanceFuturesExchangeInfo(now, 'inverse'),
  },
}

/**
 * Binance spot as ccxt sees it: HMAC-SHA256 signed queries checked per key, `recvWindow` timestamps, request
 * weight per IP per clock-aligned window (a minute by default) in `X-MBX-USED-WEIGHT-1M`, 429 with `Retry-After`
 * over the limit, and a 418 ban for an IP that keeps going after its 429s.
 */
export class BinanceApi implements ExchangeApi {
  readonly id = 'binance' as const
  readonly #host: ApiHost
  readonly #ips = new Map<string, IpState>()

  constructor(host: ApiHost) {
    this.#host = host
  }

  get weightPerMinute(): number {
    return this.#host.options.binance.weightPerMinute
  }

  /** Length of the weight windows, ms. */
  get windowMs(): number {
    return this.#host.options.binance.weightWindowMs
  }

  owns(path: string): boolean {
    return /^\/(api\/v3|sapi|fapi|dapi)\//.test(path)
  }

  /** Weight the IP has used on `/api/*` in the current window. */
  usedWeight(ip: string, now: number): number {
    return this.#ipState(ip, now).used.api
  }

  /** The IP's windows that saw a request, oldest first (copies). */
  weightWindows(ip: string): FakeWeightWindow[] {
    return (this.#ips.get(ip)?.history ?? []).map((window) => ({ ...window }))
  }

  async handle(request: ApiRequest): Promise<ApiReply> {
    const { now } = request
    const ip = this.#ipState(request.ip, now)
    const window = ip.history.at(-1) as FakeWeightWindow
    if (ip.bannedUntil > now) {
      window.refused++
      return banned(ip.bannedUntil, now, this.#host.options.binance.banRetryAfter)
    }
    const route = ROUTES[`${request.method} ${request.path}`]
    if (!route) return error(404, -1, `Unknown route ${request.method} ${request.path}.`)

    const limit = this.#poolLimit(route.pool)
    if (ip.used[route.pool] + route.weight > limit) {
      window.refused++
      return this.#overLimit(ip, route.pool, now)
    }
    ip.used[route.pool] += route.weight
    if (route.pool === 'api') window.used = ip.used.api
    const headers = { [POOL_HEADER[route.pool]]: String(ip.used[route.pool]) }
    const note: ReplyNote = { weight: route.weight }

    const apiKey = request.header('x-mbx-apikey')
    const faults = this.#host.takeFaults('binance', apiKey, request.path)
    const { gone, terminal } = await applyFaults(this.#host, request, faults)
    if (gone) return { kind: 'disconnect', ...note }
    if (terminal) return faultReply(terminal, request, headers, note, now, this.windowMs)

    let account: AccountState | undefined
    if (route.signed) {
      const verdict = this.#authenticate(request, now)
      if ('reply' in verdict) return withHeaders(verdict.reply, headers, note)
      account = verdict.account
    }
    try {
      return jsonReply(200, route.answer({ request, account, now }, this), headers, note)
    } catch (thrown) {
      // A balances function that returned something Binance could never send: say so loudly.
      const message = thrown instanceof Error ? thrown.message : String(thrown)
      return withHeaders(error(500, -1000, `Fake exchange: ${message}`), headers, note)
    }
  }

  #poolLimit(pool: Pool): number {
    if (pool === 'api') return this.weightPerMinute
    return pool === 'sapi' ? this.#host.options.binance.sapiWeightPerMinute : 2_400
  }

  #ipState(address: string, now: number): IpState {
    let state = this.#ips.get(address)
    const { windowMs } = this
    const windowStart = Math.floor(now / windowMs) * windowMs
    const window = (): FakeWeightWindow => ({
      start: windowStart,
      end: windowStart + windowMs,
      used: 0,
      limit: this.weightPerMinute,
      refused: 0,
    })
    if (!state) {
      state = { windowStart, used: emptyPools(), violations: 0, bannedUntil: 0, bans: 0, history: [window()] }
      this.#ips.set(address, state)
    } else if (state.windowStart !== windowStart) {
      state.windowStart = windowStart
      state.used = emptyPools()
      state.violations = 0
      state.history.push(window())
      if (state.history.length > MAX_WINDOWS) state.history.splice(0, state.history.length - MAX_WINDOWS)
    }
    return state
  }

  #overLimit(ip: IpState, pool: Pool, now: number): ApiReply {
    const { banAfter429s, banMs } = this.#host.options.binance
    if (ip.violations >= banAfter429s) {
      ip.bans++
      ip.bannedUntil = now + Math.min(banMs * 2 ** (ip.bans - 1), MAX_BAN_MS)
      return banned(ip.bannedUntil, now, this.#host.options.binance.banRetryAfter)
    }
    ip.violations++
    const limit = this.#poolLimit(pool)
    return error(
      429,
      -1003,
      `Too much request weight used; current limit is ${limit} request weight per ${intervalName(this.windowMs)}. Please use WebSocket Streams for live updates to avoid polling the API.`,
      {
        'retry-after': String(Math.ceil((ip.windowStart + this.windowMs - now) / 1000)),
        [POOL_HEADER[pool]]: String(ip.used[pool]),
      },
    )
  }

  #authenticate(request: ApiRequest, now: number): { account: AccountState } | { reply: ApiReply } {
    const apiKey = request.header('x-mbx-apikey')
    if (!apiKey) return { reply: error(401, -2014, 'API-key format invalid.') }
    const account = this.#host.account('binance', apiKey)
    if (!account || account.revoked) {
      return { reply: error(401, -2015, 'Invalid API-key, IP, or permissions for action.') }
    }
    const signature = request.query.get('signature')
    if (!signature) return { reply: mandatory('signature') }
    const timestamp = Number(request.query.get('timestamp'))
    if (!request.query.get('timestamp') || !Number.isSafeInteger(timestamp)) return { reply: mandatory('timestamp') }

    // The signature covers every parameter but itself, in the order sent, then the body.
    const signed = request.rawQuery
      .split('&')
      .filter((pair) => !pair.startsWith('signature='))
      .join('&')
    const expected = createHmac('sha256', account.secret)
      .update(signed + request.body)
      .digest('hex')
    if (!sameText(expected, signature.toLowerCase())) {
      return { reply: error(400, -1022, 'Signature for this request is not valid.') }
    }

    if (this.#host.options.checkTimestamps) {
      const recvWindow = Number(request.query.get('recvWindow') ?? 5000)
      if (!Number.isFinite(recvWindow) || recvWindow > 60_000) {
        return { reply: error(400, -1131, 'recvWindow must be less than 60000') }
      }
      if (timestamp >= now + 1000) {
        return { reply: error(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.") }
      }
      if (now - timestamp > recvWindow) {
        return { reply: error(400, -1021, 'Timestamp for this request is outside of the recvWindow.') }
      }
    }
    return { account }
  }
}

function emptyPools(): Record<Pool, number> {
  return { api: 0, sapi: 0, fapi: 0, dapi: 0 }
}

function error(status: number, code: number, msg: string, headers: Record<string, string> = {}): ApiReply {
  return jsonReply(status, { code, msg }, headers, { code: String(code), weight: 0 })
}

function mandatory(name: string): ApiReply {
  return error(400, -1102, `Mandatory parameter '${name}' was not sent, was empty/null, or malformed.`)
}

/** Binance's 418: the ban's end is in the message, and `Retry-After` is not always sent with it. */
function banned(until: number, now: number, retryAfter: boolean): ApiReply {
  return error(
    418,
    -1003,
    `Way too much request weight used; IP banned until ${until}. Please use WebSocket Streams for live updates to avoid bans.`,
    retryAfter ? { 'retry-after': String(Math.ceil((until - now) / 1000)) } : {},
  )
}

function withHeaders(reply: ApiReply, headers: Record<string, string>, note: ReplyNote): ApiReply {
  if (reply.kind !== 'response') return reply
  return { ...reply, headers: { ...reply.headers, ...headers }, weight: note.weight }
}

function faultReply(
  fault: TerminalFault,
  request: ApiRequest,
  headers: Record<string, string>,
  note: ReplyNote,
  now: number,
  windowMs: number,
): ApiReply {
  const tagged = { ...note, fault: fault.type }
  const reply = (status: number, code: number, msg: string, extra: Record<string, string> = {}) =>
    jsonReply(status, { code, msg }, { ...headers, ...extra }, { ...tagged, code: String(code) })
  switch (fault.type) {
    case 'hang':
    case 'disconnect':
      return { kind: fault.type, ...tagged }
    case 'error': {
      const status = fault.status ?? 500
      if (status === 502 || status === 504) {
        return htmlReply(
          status,
          htmlPage(`${status} ${status === 502 ? 'Bad Gateway' : 'Gateway Time-out'}`),
          headers,
          tagged,
        )
      }
      return reply(status, -1001, 'Internal error; unable to process your request. Please try again.')
    }
    case 'maintenance':
      return reply(503, -1008, 'Server is currently overloaded with other requests. Please try again in a few minutes.')
    case 'html':
      return htmlReply(200, htmlPage('Binance'), headers, tagged)
    case 'rate-limited': {
      const waitMs = fault.retryAfterMs ?? windowMs - (now % windowMs)
      const retryAfter = { 'retry-after': String(Math.ceil(waitMs / 1000)) }
      if (fault.bare) {
        return {
          kind: 'response',
          status: 429,
          headers: { 'content-type': 'text/plain', ...headers, ...retryAfter },
          body: 'Too Many Requests',
          ...tagged,
        }
      }
      return reply(
        fault.status ?? 429,
        -1003,
        'Too much request weight used; please use WebSocket Streams for live updates.',
        retryAfter,
      )
    }
    case 'ip-banned': {
      const answer = banned(now + (fault.ms ?? 120_000), now, fault.retryAfter ?? false)
      return answer.kind === 'response' ? { ...answer, headers: { ...answer.headers, ...headers }, ...tagged } : answer
    }
    case 'waf':
      return wafReply(headers, tagged)
    case 'restricted-location':
      return reply(
        451,
        0,
        "Service unavailable from a restricted location according to 'b. Eligibility' in https://www.binance.com/en/terms. Please contact customer service if you believe you received this message in error.",
      )
    case 'code': {
      const { status, msg } = fakeErrorAnswer('binance', fault, request.ip)
      return reply(status, Number(fault.code), msg)
    }
    case 'revoked':
    case 'ip-not-allowed':
    case 'suspended':
      // Binance answers all three the same way.
      return reply(401, -2015, `Invalid API-key, IP, or permissions for action, request ip: ${request.ip}`)
  }
}

function accountPayload(account: AccountState, request: ApiRequest, now: number) {
  const omitZero = request.query.get('omitZeroBalances') === 'true'
  const balances = account
    .balancesAt(now)
    .map((balance) => ({ asset: balance.asset, free: toScale(balance.free), locked: toScale(balance.used ?? '0') }))
    .filter((balance) => !omitZero || !isZero(balance.free) || !isZero(balance.locked))
  return {
    makerCommission: 10,
    takerCommission: 10,
    buyerCommission: 0,
    sellerCommission: 0,
    commissionRates: { maker: '0.00100000', taker: '0.00100000', buyer: '0.00000000', seller: '0.00000000' },
    canTrade: true,
    canWithdraw: true,
    canDeposit: true,
    brokered: false,
    requireSelfTradePrevention: false,
    preventSor: false,
    updateTime: now,
    accountType: 'SPOT',
    balances,
    permissions: ['SPOT'],
    uid: account.uid,
  }
}

function coinConfigs(account: AccountState, now: number) {
  const held = new Map<string, FakeBalance>(account.balancesAt(now).map((balance) => [balance.asset, balance]))
  const assets = [...new Set([...KNOWN_ASSETS, ...held.keys()])]
  return assets.map((asset) => {
    const balance = held.get(asset)
    return binanceCoinConfig(asset, toScale(balance?.free ?? '0'), toScale(balance?.used ?? '0'))
  })
}

/** `'1.5'` as Binance writes it: `'1.50000000'`. */
export function toScale(value: string): string {
  const [whole, fraction = ''] = value.split('.')
  if (fraction.length > SCALE) throw new Error(`Binance amounts have at most ${SCALE} decimals, got "${value}"`)
  return `${whole}.${fraction.padEnd(SCALE, '0')}`
}

function isZero(value: string): boolean {
  return /^0(\.0*)?$/.test(value)
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a)
  const right = Buffer.from(b)
  return left.length === right.length && timingSafeEqual(left, right)
}
