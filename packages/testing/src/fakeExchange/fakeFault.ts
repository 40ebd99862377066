import { z } from 'zod'
import type { FakeExchangeId } from './options.js'

/**
 * Something going wrong on purpose. Each exchange answers in its own words, as the real one does:
 *
 * | type | Binance | OKX |
 * |---|---|---|
 * | `latency` | answers after `ms` (adds up with other latency faults, then the request goes on) | same |
 * | `hang` | never answers; the connection stays open until the client gives up | same |
 * | `disconnect` | closes the connection without an answer | same |
 * | `error` | `status` (default 500) with `{"code":-1001}`; 502 and 504 come as a gateway's HTML page | `status` with `{"code":"50026"}`; 502 and 504 as HTML |
 * | `maintenance` | 503 `{"code":-1008}` (server busy) | 503 `{"code":"50001"}` (service temporarily unavailable) |
 * | `html` | 200 with an HTML page instead of JSON | same |
 * | `rate-limited` | 429 `{"code":-1003}` with `Retry-After` | 429 `{"code":"50011"}`; `status: 200` sends it at HTTP 200, as OKX also does |
 * | `rate-limited`, `bare: true` | 429 with a plain-text body, no code | same |
 * | `ip-banned` | 418 `{"code":-1003}` "IP banned until <epoch ms>", without `Retry-After` unless `retryAfter` | 429 without a code (OKX bans no IP this way) |
 * | `waf` | 403 with the CDN's HTML page (WAF limit violated) | same |
 * | `restricted-location` | 451 `{"code":0}` (restricted location) | 200 `{"code":"50121"}` (the server's IP is refused) |
 * | `code` | the exchange's body for `code`, at the status it documents (see `FAKE_ERROR_CODES`) | same; OKX bodies carry no `data` |
 * | `revoked` | 401 `{"code":-2015}` | 401 `{"code":"50111"}` |
 * | `ip-not-allowed` | 401 `{"code":-2015}` (Binance does not tell it apart) | 401 `{"code":"50110"}` |
 * | `suspended` | 401 `{"code":-2015}` (Binance does not tell it apart) | 200 `{"code":"50007"}` (account blocked) |
 */
export type FakeFault =
  | { type: 'latency'; ms: number }
  | { type: 'hang' }
  | { type: 'disconnect' }
  | { type: 'error'; status?: number }
  | { type: 'maintenance' }
  | { type: 'html' }
  | { type: 'rate-limited'; retryAfterMs?: number; status?: 200 | 429; bare?: boolean }
  | { type: 'ip-banned'; ms?: number; retryAfter?: boolean }
  | { type: 'waf' }
  | { type: 'restricted-location' }
  | { type: 'code'; code: string; status?: number; msg?: string }
  | { type: 'revoked' }
  | { type: 'ip-not-allowed' }
  | { type: 'suspended' }

/** Which requests a fault applies to. Every field left out matches everything. */
export interface FakeFaultTarget {
  /** Only this exchange's requests. @default both */
  exchange?: FakeExchangeId
  /** Only requests signed with this API key (public requests carry none and never match). @default every request */
  apiKey?: string
  /** Only requests whose path starts with this, e.g. `/api/v3/account`. @default every path */
  path?: string
  /** The fault removes itself after this many requests. @default unlimited */
  times?: number
}

export interface FakeFaultHandle {
  /** Requests the fault has applied to so far. */
  readonly hits: number
  /** Takes the fault out; later requests are answered normally. */
  remove(): void
}

export const fakeFaultSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('latency'), ms: z.number().int().nonnegative() }),
  z.strictObject({ type: z.literal('hang') }),
  z.strictObject({ type: z.literal('disconnect') }),
  z.strictObject({ type: z.literal('error'), status: z.number().int().min(500).max(599).optional() }),
  z.strictObject({ type: z.literal('maintenance') }),
  z.strictObject({ type: z.literal('html') }),
  z.strictObject({
    type: z.literal('rate-limited'),
    retryAfterMs: z.number().int().positive().optional(),
    status: z.union([z.literal(200), z.literal(429)]).optional(),
    bare: z.boolean().optional(),
  }),
  z.strictObject({
    type: z.literal('ip-banned'),
    ms: z.number().int().positive().optional(),
    retryAfter: z.boolean().optional(),
  }),
  z.strictObject({ type: z.literal('waf') }),
  z.strictObject({ type: z.literal('restricted-location') }),
  z.strictObject({
    type: z.literal('code'),
    code: z.string().regex(/^-?\d+$/, 'must be an exchange error code such as "50009" or "-2015"'),
    status: z.number().int().min(200).max(599).optional(),
    msg: z.string().min(1).optional(),
  }),
  z.strictObject({ type: z.literal('revoked') }),
  z.strictObject({ type: z.literal('ip-not-allowed') }),
  z.strictObject({ type: z.literal('suspended') }),
])

export const fakeFaultTargetSchema = z.strictObject({
  exchange: z.enum(['binance', 'okx']).optional(),
  apiKey: z.string().min(1).optional(),
  path: z.string().startsWith('/').optional(),
  times: z.number().int().positive().optional(),
})

/** The status and message each exchange documents for an error code, as the `code` fault sends them. */
export const FAKE_ERROR_CODES: Record<FakeExchangeId, Record<string, { status: number; msg: string }>> = {
  binance: {
    '-1003': { status: 429, msg: 'Too much request weight used; please use WebSocket Streams for live updates.' },
    '-2015': { status: 401, msg: 'Invalid API-key, IP, or permissions for action.' },
    '-1022': { status: 400, msg: 'Signature for this request is not valid.' },
  },
  okx: {
    '50009': { status: 200, msg: 'Account is frozen due to stop-out.' },
    '50011': { status: 429, msg: 'Too Many Requests' },
    '50022': { status: 200, msg: 'Account is frozen due to liquidation. Please try again later.' },
    '50040': { status: 200, msg: 'Too frequent operations, please try again later' },
    '50110': { status: 401, msg: "Your IP {ip} is not included in your API key's IP whitelist." },
    '50119': { status: 200, msg: "API key doesn't exist" },
    '50121': { status: 200, msg: "You can't access our services through the IP address ({ip})" },
  },
}

/** The documented status and message of a code, `{ip}` filled in; unknown codes get the exchange's usual error status. */
export function fakeErrorAnswer(
  exchange: FakeExchangeId,
  fault: { code: string; status?: number; msg?: string },
  ip: string,
): { status: number; msg: string } {
  const known = FAKE_ERROR_CODES[exchange][fault.code]
  const status = fault.status ?? known?.status ?? (exchange === 'binance' ? 400 : 200)
  const msg = (fault.msg ?? known?.msg ?? 'Error').replace('{ip}', ip)
  return { status, msg }
}
