import { createHmac, timingSafeEqual } from 'node:crypto'
import { sumDecimals } from '@syncfolio/core'
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
  SlidingWindow,
  type TerminalFault,
  wafReply,
} from './exchangeApi.js'
import { fakeErrorAnswer } from './fakeFault.js'
import { KNOWN_ASSETS, okxCurrency, okxInstruments } from './fixtures.js'

interface RouteContext {
  request: ApiRequest
  account: AccountState | undefined
  now: number
}

interface Route {
  /** Needs the OK-ACCESS-* headers and a signature. */
  private: boolean
  /** Per-account limit of this endpoint, sliding. */
  limiter?: SlidingWindow
  answer(context: RouteContext): unknown[] | ApiReply
}

/** OKX allows a request timestamp this far from its own clock. */
const TIMESTAMP_TOLERANCE_MS = 30_000
const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/

/**
 * OKX v5 as ccxt sees it: base64 HMAC-SHA256 of timestamp + method + path + query + body checked per key, the
 * passphrase, a 30 s timestamp window, and endpoint limits counted per user (every key of one `uid` shares them)
 * answered with code 50011. Error bodies carry `code` and `msg` and no `data`, as OKX sends them.
 */
export class OkxApi implements ExchangeApi {
  readonly id = 'okx' as const
  readonly #host: ApiHost
  readonly #routes: Record<string, Route>

  constructor(host: ApiHost) {
    this.#host = host
    const { balanceLimit, balanceWindowMs } = host.options.okx
    this.#routes = {
      'GET /api/v5/public/time': { private: false, answer: ({ now }) => [{ ts: String(now) }] },
      'GET /api/v5/public/instruments': {
        private: false,
        answer: ({ request }) => {
          const instType = request.query.get('instType')
          if (!instType) return error(400, '50014', 'Parameter instType can not be empty.')
          return okxInstruments(instType)
        },
      },
      'GET /api/v5/asset/currencies': {
        private: true,
        limiter: new SlidingWindow(6, 1_000),
        answer: ({ account, now }) => {
          const held = (account as AccountState).balancesAt(now).map((balance) => balance.asset)
          return [...new Set([...KNOWN_ASSETS, ...held])].map(okxCurrency)
        },
      },
      'GET /api/v5/account/config': {
        private: true,
        limiter: new SlidingWindow(5, 2_000),
        answer: ({ account }) => [configPayload(account as AccountState)],
      },
      'GET /api/v5/account/balance': {
        private: true,
        limiter: new SlidingWindow(balanceLimit, balanceWindowMs),
        answer: ({ request, account, now }) => [balancePayload(account as AccountState, request, now)],
      },
    }
  }

  owns(path: string): boolean {
    return path.startsWith('/api/v5/')
  }

  async handle(request: ApiRequest): Promise<ApiReply> {
    const { now } = request
    const route = this.#routes[`${request.method} ${request.path}`]
    if (!route) return error(404, '404', 'Not Found')

    const apiKey = request.header('ok-access-key')
    const faults = this.#host.takeFaults('okx', apiKey, request.path)
    const { gone, terminal } = await applyFaults(this.#host, request, faults)
    if (gone) return { kind: 'disconnect' }
    if (terminal) return faultReply(terminal, request, now)

    let account: AccountState | undefined
    if (route.private) {
      const verdict = this.#authenticate(request, now)
      if ('reply' in verdict) return verdict.reply
      account = verdict.account
      // OKX counts private limits per user id, so a user's keys share them.
      if (route.limiter && !route.limiter.take(String(account.uid), now)) {
        return error(429, '50011', 'Too Many Requests')
      }
    }
    try {
      const data = route.answer({ request, account, now })
      if (!Array.isArray(data)) return data
      return jsonReply(200, { code: '0', msg: '', data })
    } catch (thrown) {
      const message = thrown instanceof Error ? thrown.message : String(thrown)
      return error(500, '50026', `Fake exchange: ${message}`)
    }
  }

  #authenticate(request: ApiRequest, now: number): { account: AccountState } | { reply: ApiReply } {
    const apiKey = request.header('ok-access-key')
    const passphrase = request.header('ok-access-passphrase')
    const signature = request.header('ok-access-sign')
    const timestamp = request.header('ok-access-timestamp')
    if (!apiKey) return { reply: error(401, '50103', 'Request header "OK-ACCESS-KEY" cannot be empty.') }
    if (!passphrase) return { reply: error(401, '50104', 'Request header "OK-ACCESS-PASSPHRASE" cannot be empty.') }
    if (!signature) return { reply: error(401, '50106', 'Request header "OK-ACCESS-SIGN" cannot be empty.') }
    if (!timestamp) return { reply: error(401, '50107', 'Request header "OK-ACCESS-TIMESTAMP" cannot be empty.') }
    const sentAt = Date.parse(timestamp)
    if (!ISO_TIMESTAMP.test(timestamp) || Number.isNaN(sentAt)) {
      return { reply: error(401, '50112', 'Invalid OK-ACCESS-TIMESTAMP.') }
    }
    if (this.#host.options.checkTimestamps && Math.abs(now - sentAt) > TIMESTAMP_TOLERANCE_MS) {
      return { reply: error(401, '50102', 'Timestamp request expired.') }
    }
    const account = this.#host.account('okx', apiKey)
    if (!account || account.revoked) return { reply: error(401, '50111', 'Invalid OK-ACCESS-KEY.') }
    if (!sameText(passphrase, account.password ?? '')) {
      return { reply: error(401, '50105', 'OK-ACCESS-PASSPHRASE incorrect.') }
    }
    const path = request.rawQuery ? `${request.path}?${request.rawQuery}` : request.path
    const expected = createHmac('sha256', account.secret)
      .update(`${timestamp}${request.method}${path}${request.body}`)
      .digest('base64')
    if (!sameText(expected, signature)) return { reply: error(401, '50113', 'Invalid Sign.') }
    return { account }
  }
}

/** OKX's error body: `code` and `msg`, no `data`. */
function error(status: number, code: string, msg: string, headers: Record<string, string> = {}): ApiReply {
  return jsonReply(status, { msg, code }, headers, { code })
}

function faultReply(fault: TerminalFault, request: ApiRequest, now: number): ApiReply {
  const tagged = (reply: ApiReply): ApiReply => ({ ...reply, fault: fault.type })
  switch (fault.type) {
    case 'hang':
    case 'disconnect':
      return { kind: fault.type, fault: fault.type }
    case 'error': {
      const status = fault.status ?? 500
      if (status === 502 || status === 504) {
        return tagged(htmlReply(status, htmlPage(`${status} ${status === 502 ? 'Bad Gateway' : 'Gateway Time-out'}`)))
      }
      return tagged(error(status, '50026', 'System error. Try again later.'))
    }
    case 'maintenance':
      return tagged(error(503, '50001', 'Service temporarily unavailable. Please try again later.'))
    case 'html':
      return tagged(htmlReply(200, htmlPage('OKX')))
    case 'rate-limited': {
      // OKX sends no Retry-After; the fake adds one only when the fault asks for it.
      const headers: Record<string, string> =
        fault.retryAfterMs === undefined ? {} : { 'retry-after': String(Math.ceil(fault.retryAfterMs / 1000)) }
      if (fault.bare) return tagged(bareTooManyRequests(headers))
      return tagged(error(fault.status ?? 429, '50011', 'Too Many Requests', headers))
    }
    case 'ip-banned':
      return tagged(bareTooManyRequests({}))
    case 'waf':
      return tagged(wafReply())
    case 'restricted-location': {
      const { status, msg } = fakeErrorAnswer('okx', { code: '50121' }, request.ip)
      return tagged(error(status, '50121', msg))
    }
    case 'code': {
      const { status, msg } = fakeErrorAnswer('okx', fault, request.ip)
      return tagged(error(status, fault.code, msg))
    }
    case 'revoked':
      return tagged(error(401, '50111', 'Invalid OK-ACCESS-KEY.'))
    case 'ip-not-allowed':
      return tagged(error(401, '50110', `Your IP ${request.ip} is not included in your API key's IP whitelist.`))
    case 'suspended':
      return tagged(error(200, '50007', `Account blocked. (${new Date(now).toISOString()})`))
  }
}

/** A 429 from OKX's edge, before the API: no OKX code in the body. */
function bareTooManyRequests(headers: Record<string, string>): ApiReply {
  return {
    kind: 'response',
    status: 429,
    headers: { 'content-type': 'text/plain', ...headers },
    body: 'Too Many Requests',
  }
}

/** `GET /api/v5/account/config`, trimmed to the fields that tell the user and the account mode. */
function configPayload(account: AccountState) {
  return {
    acctLv: account.okxAccountLevel,
    autoLoan: account.okxAccountLevel !== '1',
    ctIsoMode: 'automatic',
    greeksType: 'PA',
    label: 'syncfolio',
    level: 'Lv1',
    levelTmp: '',
    liquidationGear: '-1',
    mainUid: String(account.uid),
    mgnIsoMode: 'automatic',
    opAuth: '0',
    perm: 'read_only',
    posMode: 'net_mode',
    roleType: '0',
    spotOffsetType: '',
    spotRoleType: '0',
    spotTraderInsts: [],
    traderInsts: [],
    uid: String(account.uid),
  }
}

function balancePayload(account: AccountState, request: ApiRequest, now: number) {
  const wanted = request.query.get('ccy')?.split(',')
  const details = account
    .balancesAt(now)
    .filter((balance) => !wanted || wanted.includes(balance.asset))
    .map((balance) => {
      const used = balance.used ?? '0'
      const total = sumDecimals([balance.free, used])
      return { balance, used, total }
    })
    // OKX lists only the currencies the account holds (or owes).
    .filter(({ balance, total }) => balance.okx !== undefined || !/^0(\.0*)?$/.test(total))
    .map(({ balance, used, total }) => ({
      accAvgPx: '',
      availBal: balance.free,
      availEq: '',
      borrowFroz: '',
      cashBal: total,
      ccy: balance.asset,
      crossLiab: '',
      disEq: '',
      eq: total,
      eqUsd: '',
      fixedBal: '0',
      frozenBal: used,
      imr: '',
      interest: '',
      isoEq: '',
      isoLiab: '',
      isoUpl: '',
      liab: '',
      maxLoan: '',
      mgnRatio: '',
      mmr: '',
      notionalLever: '',
      ordFrozen: used,
      rewardBal: '0',
      spotInUseAmt: '',
      spotIsoBal: '0',
      stgyEq: '0',
      twap: '0',
      uTime: String(now),
      upl: '',
      uplLiab: '',
      ...balance.okx,
    }))
  return {
    adjEq: '',
    borrowFroz: '',
    details,
    imr: '',
    isoEq: '0',
    mgnRatio: '',
    mmr: '',
    notionalUsd: '',
    ordFroz: '',
    totalEq: '',
    uTime: String(now),
    upl: '',
  }
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a)
  const right = Buffer.from(b)
  return left.length === right.length && timingSafeEqual(left, right)
}
