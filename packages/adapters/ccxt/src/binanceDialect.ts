import type { Balance } from '@syncfolio/core'
import { sumDecimals } from '@syncfolio/core'
import { callImplicit } from './ccxtInstance.js'
import {
  type CallTrace,
  type CodeMeaning,
  type ExchangeDialect,
  invalidResponse,
  parseJsonBody,
  pushBalance,
} from './exchangeDialect.js'
import { amountToDecimal, isZeroDecimal } from './toPlainDecimal.js'

/** Binance's error codes that matter for a balance call (https://developers.binance.com/docs/binance-spot-api-docs/errors). */
const CODES: Record<string, CodeMeaning> = {
  '-2015': {
    code: 'AUTH_FAILED',
    what: 'the API key was rejected (invalid, deleted, IP not whitelisted, or no read permission)',
  },
  '-2014': { code: 'AUTH_FAILED', what: 'the API key format is invalid' },
  '-2008': { code: 'AUTH_FAILED', what: 'the API key id is invalid' },
  '-1022': { code: 'AUTH_FAILED', what: 'the signature was rejected (wrong secret)' },
  '-1002': { code: 'PERMISSION_DENIED', what: 'the API key is not authorized for this request' },
  '-1003': { code: 'RATE_LIMITED', what: "the IP's request weight limit is used up", scope: 'exchange' },
  '-1021': { code: 'UNKNOWN', what: "the request timestamp is outside recvWindow (is this host's clock off?)" },
  '-1000': { code: 'EXCHANGE_UNAVAILABLE', what: 'the exchange failed with an unknown error' },
  '-1001': { code: 'EXCHANGE_UNAVAILABLE', what: 'the exchange failed internally' },
  '-1006': { code: 'EXCHANGE_UNAVAILABLE', what: 'the exchange sent an unexpected response from its message bus' },
  '-1007': { code: 'EXCHANGE_UNAVAILABLE', what: 'the exchange timed out waiting for its backend' },
  '-1008': { code: 'EXCHANGE_UNAVAILABLE', what: 'the exchange is overloaded' },
}

/** A pause of the whole exchange when Binance names no end: long enough not to hammer a refusing edge. */
const WAF_PAUSE_MS = 5 * 60_000
/** The server's location is refused for every key; nothing changes until the operator moves it. */
const RESTRICTED_PAUSE_MS = 10 * 60_000

/** HTTP statuses Binance gives a meaning of their own (https://developers.binance.com/docs/binance-spot-api-docs/rest-api/limits). */
const STATUSES: Record<number, CodeMeaning> = {
  403: {
    code: 'RATE_LIMITED',
    what: "Binance's web application firewall refused the request (WAF limit violated)",
    scope: 'exchange',
    defaultRetryAfterMs: WAF_PAUSE_MS,
  },
  451: {
    code: 'EXCHANGE_UNAVAILABLE',
    what:
      "Binance refuses this server's IP address for every key (restricted location). Run the sync from a location " +
      "Binance serves, or through a proxy there (the adapter's ccxt options `httpsProxy`); no connection is at fault",
    scope: 'exchange',
    defaultRetryAfterMs: RESTRICTED_PAUSE_MS,
  },
}

/** Binance sends -2015 during a temporary IP ban too: then it says nothing about the key. */
const WHILE_PAUSED: Record<string, CodeMeaning> = {
  '-2015': {
    code: 'RATE_LIMITED',
    what: 'the API key was refused while the IP is banned or rate limited (Binance sends -2015 during a ban too)',
    scope: 'exchange',
  },
}

const BANNED_UNTIL = /banned until (\d{13})\b/

/**
 * Binance spot: `GET /api/v3/account` (weight 20) with `omitZeroBalances`, read from the raw JSON so amounts keep
 * the exchange's own digits. Markets are not needed.
 */
export const binanceDialect: ExchangeDialect = {
  needsMarkets: false,
  fetch: (instance) => callImplicit(instance, 'privateGetAccount', { omitZeroBalances: 'true' }),
  parse(response, instance) {
    const account = response as { balances?: unknown } | null
    if (typeof account !== 'object' || account === null || !Array.isArray(account.balances)) {
      throw invalidResponse('binance', 'expected an account object with a "balances" array')
    }
    const balances = new Map<string, Balance>()
    account.balances.forEach((entry: unknown, index: number) => {
      const { asset, free, locked } = (entry ?? {}) as Record<string, unknown>
      if (typeof asset !== 'string' || asset === '')
        throw invalidResponse('binance', `balances[${index}].asset is missing`)
      const freeAmount = amountToDecimal(free)
      const lockedAmount = amountToDecimal(locked)
      if (freeAmount === undefined) throw invalidResponse('binance', `balances[${index}].free is not a number`)
      if (lockedAmount === undefined) throw invalidResponse('binance', `balances[${index}].locked is not a number`)
      const total = sumDecimals([freeAmount, lockedAmount])
      if (isZeroDecimal(total)) return
      pushBalance(balances, { asset: instance.safeCurrencyCode(asset), free: freeAmount, used: lockedAmount, total })
    })
    return [...balances.values()]
  },
  errorCode(body) {
    const code = parseJsonBody(body)?.code
    return typeof code === 'number' || typeof code === 'string' ? String(code) : undefined
  },
  meaning: (code) => CODES[code],
  statusLimitScope: 'exchange',
  statusMeaning: (status) => STATUSES[status],
  meaningWhilePaused: (code) => WHILE_PAUSED[code],
  retryAfterFromBody(body, now) {
    // A 418 may come without Retry-After: "Way too much request weight used; IP banned until 1661313390000."
    const message = parseJsonBody(body)?.msg
    const match = typeof message === 'string' ? BANNED_UNTIL.exec(message) : null
    return match ? Math.max(0, Number(match[1]) - now) : undefined
  },
  usedWeight(trace: CallTrace) {
    const header = trace.headers?.get('x-mbx-used-weight-1m')
    if (header === null || header === undefined) return undefined
    const weight = Number(header)
    return Number.isSafeInteger(weight) && weight >= 0 ? weight : undefined
  },
}
