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

/** OKX's own window for the balance endpoint: 10 requests per 2 s per account. */
const BALANCE_WINDOW_MS = 2_000

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
  '50110': { code: 'PERMISSION_DENIED', what: "this IP is not on the API key's whitelist" },
  '50120': { code: 'PERMISSION_DENIED', what: 'the API key lacks the read permission' },
  '50007': { code: 'ACCOUNT_SUSPENDED', what: 'the account is blocked' },
  '50009': { code: 'ACCOUNT_SUSPENDED', what: 'the account is suspended during a liquidation' },
  '50011': {
    code: 'RATE_LIMITED',
    what: "the account's request limit for this endpoint is used up",
    scope: 'account',
    defaultRetryAfterMs: BALANCE_WINDOW_MS,
  },
  '50061': { code: 'RATE_LIMITED', what: "the account's request limit is used up", scope: 'account' },
  '50001': { code: 'EXCHANGE_UNAVAILABLE', what: 'the exchange is under maintenance' },
  '50005': { code: 'EXCHANGE_UNAVAILABLE', what: 'the API is offline' },
  '50013': { code: 'EXCHANGE_UNAVAILABLE', what: 'the exchange is busy' },
  '50026': { code: 'EXCHANGE_UNAVAILABLE', what: 'the exchange failed internally' },
  '50004': { code: 'TIMEOUT', what: 'the exchange timed out on its side' },
  '50102': { code: 'UNKNOWN', what: "the request timestamp expired (is this host's clock off?)" },
  '50112': { code: 'UNKNOWN', what: 'the request timestamp was refused' },
}

/**
 * OKX v5: `GET /api/v5/account/balance` (10 per 2 s per account), read from the raw JSON so amounts keep the
 * exchange's digits. `total` is `eq`; `free` is `availEq` when OKX fills it (margin modes) else `availBal`, as in
 * ccxt; `used` is `frozenBal`, or `total - free` when `free` came from `availEq`. Markets are not needed.
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
        const used = equity === undefined && frozen !== undefined ? frozen : subtractDecimals(total, free)
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
  statusLimitScope: 'exchange',
  usedWeight: () => undefined,
}
