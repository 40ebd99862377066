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
 * | `rate-limited` | 429 `{"code":-1003}` with `Retry-After` | 429 `{"code":"50011"}` |
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
  | { type: 'rate-limited'; retryAfterMs?: number }
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
  z.strictObject({ type: z.literal('rate-limited'), retryAfterMs: z.number().int().positive().optional() }),
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
