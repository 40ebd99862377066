import { parseOptions, withoutUndefined } from '@syncfolio/core/runner'
import { z } from 'zod'

export interface CcxtAdapterOptions {
  /**
   * Replaces the scheme and host of every API URL of the exchange and keeps each path, e.g.
   * `http://127.0.0.1:40123` for the fake exchange, a testnet host, or a proxy (`https://proxy.example/binance`).
   * @default the exchange's own hosts
   */
  baseUrl?: string
  /**
   * Extra ccxt constructor options for every instance of the pool: `timeout`, `httpsProxy`, `options`,
   * `fetchImplementation`, `headers`... Credentials are not allowed here: they come with each sync.
   * `enableRateLimit` defaults to false, because syncfolio's scheduler owns rate limits across every instance.
   * @default {}
   */
  ccxt?: Record<string, unknown>
  /**
   * ccxt instances kept for reuse when idle. The pool grows to the number of syncs in flight (one call per instance
   * at a time); instances beyond this many are dropped when they go idle. Each costs about 400 KiB and 8 ms to build.
   * @default 16
   */
  maxIdleInstances?: number
  /**
   * Time source for waits the exchange states as a time (Binance: "IP banned until <epoch ms>"), for how long a
   * rate-limit pause lasts, and for when a failed account-id lookup is tried again.
   * @default Date
   */
  clock?: { now(): number }
}

export interface ResolvedCcxtAdapterOptions {
  baseUrl: string | undefined
  ccxt: Record<string, unknown>
  maxIdleInstances: number
  clock: { now(): number }
}

/** Keys that would put one user's credentials on every instance of the pool. */
const CREDENTIAL_KEYS = ['apiKey', 'secret', 'password', 'uid', 'login', 'privateKey', 'walletAddress', 'token']

const optionsSchema = z.strictObject({
  baseUrl: z.string().refine(isBaseUrl, 'must be an absolute http(s) URL without query or fragment').optional(),
  ccxt: z
    .record(z.string(), z.unknown())
    .refine(
      (config) => !CREDENTIAL_KEYS.some((key) => key in config),
      `must not hold credentials (${CREDENTIAL_KEYS.join(', ')}): they come with each sync`,
    ),
  maxIdleInstances: z.number().int().nonnegative(),
  clock: z.custom<{ now(): number }>(
    (value) =>
      (typeof value === 'object' || typeof value === 'function') &&
      value !== null &&
      typeof (value as { now?: unknown }).now === 'function',
    'expected an object with a now() method',
  ),
})

function isBaseUrl(value: string): boolean {
  try {
    const url = new URL(value)
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.search === '' && url.hash === ''
  } catch {
    return false
  }
}

/** Applies defaults, then validates once; a bad option throws InvalidOptionError naming the field and value. */
export function resolveCcxtAdapterOptions(input: CcxtAdapterOptions): ResolvedCcxtAdapterOptions {
  if (typeof input !== 'object' || input === null) parseOptions('createCcxtAdapter', optionsSchema, input)
  const withDefaults = { ccxt: {}, maxIdleInstances: 16, clock: Date, ...withoutUndefined(input) }
  const parsed = parseOptions('createCcxtAdapter', optionsSchema, withDefaults)
  return {
    baseUrl: parsed.baseUrl?.replace(/\/+$/, ''),
    // The caller's object itself, not zod's copy: it may hold functions and class instances (agents, fetch).
    ccxt: (input.ccxt ?? {}) as Record<string, unknown>,
    maxIdleInstances: parsed.maxIdleInstances,
    clock: parsed.clock,
  }
}
