import type { Balance } from '@syncfolio/core'
import { callImplicit } from './ccxtInstance.js'
import {
  type CodeMeaning,
  type ExchangeDialect,
  invalidResponse,
  parseJsonBody,
  pushBalance,
} from './exchangeDialect.js'
import { amountToDecimal, isZeroDecimal, subtractDecimals } from './toPlainDecimal.js'

/** OKX's own window for the balance endpoint: 10 requests per 2 s per user. */
const BALANCE_WINDOW_MS = 2_000
/** The server's IP is refused for every key; nothing changes until the operator moves it. */
const RESTRICTED_PAUSE_MS = 10 * 60_000

/** OKX v5 error codes that matter for a balance call (https://www.okx.com/docs-v5/en/#error-code). */
const CODES: Record<string, CodeMeaning> = {
  '50111': { code: 'AUTH_FAILED', what: 'the API key was rejected (invalid or deleted)' },
  '50113': { code: 'AUTH_FAILED', what: 'the signature was rejected (wrong secret)' },
  '50105': { code: 'AUTH_FAILED', what: 'the passphrase is wrong' },
  '50114': { code: 'AUTH_FAILED', what: 'the authorization was rejected' },
  '50101': { code: 'AUTH_FAILED', what: 'the API key belongs to another environment (demo or live)' },
  '50103': { code: 'AUTH_FAILED', what: 'the API key is missing' },
  '50104': { code: 'AUTH_FAILED', what: 'the passphrase is missing' },
  '50008': { code: 'AUTH_FAILED', what: 'the user does not exist' },
  '50100': { code: 'AUTH_FAILED', what: 'the API key is frozen' },
  '50119': { code: 'AUTH_FAILED', what: "the API key doesn't exist" },
  '50110': {
    code: 'PERMISSION_DENIED',
    what: "this server's IP is not on the API key's IP whitelist: add the server's IP to the key on OKX, or create a key without an IP restriction",
  },
  '50121': {
    code: 'EXCHANGE_UNAVAILABLE',
    what:
      "OKX refuses this server's IP address for every key. Run the sync from a location OKX serves, or through a " +
      "proxy there (the adapter's ccxt options `httpsProxy`); no connection is at fault",
    scope: 'exchange',
    defaultRetryAfterMs: RESTRICTED_PAUSE_MS,
  },
  '50120': { code: 'PERMISSION_DENIED', what: 'the API key lacks the read permission' },
  '50007': { code: 'ACCOUNT_SUSPENDED', what: 'the account is blocked' },
  // Frozen while a stop-out or liquidation runs: OKX lifts it by itself, so the keys stay good.
  '50009': {
    code: 'EXCHANGE_UNAVAILABLE',
    what: 'the account is frozen while OKX stops it out (liquidation); it is tried again later',
  },
  '50022': {
    code: 'EXCHANGE_UNAVAILABLE',
    what: 'the account is frozen for a liquidation; it is tried again later',
  },
  '50011': {
    code: 'RATE_LIMITED',
    what: "the account's request limit for this endpoint is used up",
    scope: 'account',
    defaultRetryAfterMs: BALANCE_WINDOW_MS,
  },
  '50061': { code: 'RATE_LIMITED', what: "the account's request limit is used up", scope: 'account' },
  '50040': {
    code: 'RATE_LIMITED',
    what: 'the account made too frequent operations',
    scope: 'account',
    defaultRetryAfterMs: BALANCE_WINDOW_MS,
  },
  '50001': { code: 'EXCHANGE_UNAVAILABLE', what: 'the exchange is under maintenance' },
  '50005': { code: 'EXCHANGE_UNAVAILABLE', what: 'the API is offline' },
  '50013': { code: 'EXCHANGE_UNAVAILABLE', what: 'the exchange is busy' },
  '50026': { code: 'EXCHANGE_UNAVAILABLE', what: 'the exchange failed internally' },
  '50004': { code: 'TIMEOUT', what: 'the exchange timed out on its side' },
  '50102': { code: 'UNKNOWN', what: "the request timestamp expired (is this host's clock off?)" },
  '50112': { code: 'UNKNOWN', what: 'the request timestamp was refused' },
}

/**
 * OKX v5: `GET /api/v5/account/balance` (10 per 2 s per user), read from the raw JSON so amounts keep the
 * exchange's digits in every account mode. `total` is `eq` (else `cashBal`); `free` is `availEq` when OKX fills it
 * (margin modes) else `availBal`, as in ccxt; `used` is `frozenBal`, or exactly `total - free` when OKX sends none.
 * In margin modes `free + used` need not be `total`: `eq` holds unrealised PnL and is negative when borrowing.
 * The user id (`uid` of `GET /api/v5/account/config`) is the account id. Markets are not needed.
 */
export const okxDialect: ExchangeDialect = {
  needsMarkets: false,
  fetch: (instance) => callImplicit(instance, 'privateGetAccountBalance'),
  parse(response, instance) {
    const body = response as { code?: unknown; data?: unknown } | null
    if (typeof body !== 'object' || body === null || !Array.isArray(body.data)) {
      throw invalidResponse('okx', 'expected an object with a "data" array')
    }
    if (String(body.code) !== '0') throw invalidResponse('okx', `code is ${JSON.stringify(body.code)}, not "0"`)
    const balances = new Map<string, Balance>()
    body.data.forEach((account: unknown, accountIndex: number) => {
      const details = (account as { details?: unknown } | null)?.details
      if (!Array.isArray(details)) throw invalidResponse('okx', `data[${accountIndex}].details is not an array`)
      details.forEach((detail: unknown, index: number) => {
        const where = `data[${accountIndex}].details[${index}]`
        const { ccy, eq, cashBal, availEq, availBal, frozenBal } = (detail ?? {}) as Record<string, unknown>
        if (typeof ccy !== 'string' || ccy === '') throw invalidResponse('okx', `${where}.ccy is missing`)
        const total = amountToDecimal(eq) ?? amountToDecimal(cashBal)
        if (total === undefined) throw invalidResponse('okx', `${where}.eq is not a number`)
        const equity = amountToDecimal(availEq)
        const free = equity ?? amountToDecimal(availBal)
        if (free === undefined) throw invalidResponse('okx', `${where}.availBal is not a number`)
        const frozen = amountToDecimal(frozenBal)
        // OKX's own frozen amount when it sends one; in margin modes eq - availEq would count PnL and loans as used.
        const used = frozen ?? subtractDecimals(total, free)
        if (isZeroDecimal(total) && isZeroDecimal(free) && isZeroDecimal(used)) return
        pushBalance(balances, { asset: instance.safeCurrencyCode(ccy), free, used, total })
      })
    })
    return [...balances.values()]
  },
  errorCode(body) {
    const parsed = parseJsonBody(body)
    if (!parsed) return undefined
    // A batch answer carries the real code per item.
    const first = Array.isArray(parsed.data) ? (parsed.data[0] as { sCode?: unknown } | undefined) : undefined
    const code = typeof first?.sCode === 'string' && first.sCode !== '0' ? first.sCode : parsed.code
    return typeof code === 'string' || typeof code === 'number' ? String(code) : undefined
  },
  meaning: (code) => CODES[code],
  // OKX counts private limits per user, not per IP: a 429 without a code is the user's.
  statusLimitScope: 'account',
  statusLimitRetryAfterMs: BALANCE_WINDOW_MS,
  usedWeight: () => undefined,
  async accountId(instance) {
    const response = (await callImplicit(instance, 'privateGetAccountConfig')) as { code?: unknown; data?: unknown }
    const config = Array.isArray(response?.data) ? (response.data[0] as { uid?: unknown } | undefined) : undefined
    const uid = config?.uid
    if (String(response?.code) !== '0' || (typeof uid !== 'string' && typeof uid !== 'number') || uid === '') {
      throw invalidResponse('okx', 'the account config holds no "uid"')
    }
    return String(uid)
  },
}
