import { type Clock, isDecimalString, systemClock } from '@syncfolio/core'
import { parseOptions, withoutUndefined } from '@syncfolio/core/runner'
import { z } from 'zod'

/** The exchanges the fake speaks. Both are served from one origin: their paths do not collide. */
export type FakeExchangeId = 'binance' | 'okx'

/** One asset of a fake account. Amounts are decimal strings, like everywhere in syncfolio. */
export interface FakeBalance {
  asset: string
  /** Available amount. */
  free: string
  /** Amount held in open orders. @default '0' */
  used?: string
  /**
   * Fields of OKX's balance detail sent exactly as given, over those the fake derives from `free` and `used`
   * (`availBal`, `frozenBal`, `cashBal`, `eq`): what margin modes fill in, e.g.
   * `{ availEq: '0.6612664522199999', eq: '1.2', upl: '0.2', liab: '' }`. A balance with `okx` fields is listed
   * even when `free` and `used` are zero (a borrowed currency has a negative `eq`). Ignored by Binance.
   * @default {}
   */
  okx?: Readonly<Record<string, string>>
}

/** Fixed balances, or a function of the fake's clock for balances that move on their own. */
export type FakeBalances = readonly FakeBalance[] | ((now: number) => readonly FakeBalance[])

export interface FakeAccountOptions {
  exchange: FakeExchangeId
  apiKey: string
  secret: string
  /** OKX's passphrase (ccxt and syncfolio call it `password`). Required for OKX, ignored for Binance. */
  password?: string
  /** What the account holds. @default [] */
  balances?: FakeBalances
  /**
   * The exchange's user id of the account. Keys given one `uid` are keys of one user: OKX counts its private
   * limits per user, so they share one budget. OKX's `GET /api/v5/account/config` answers it.
   * @default a new id per account
   */
  uid?: number
  /**
   * OKX account mode (`acctLv` of `GET /api/v5/account/config`): 1 spot, 2 single-currency margin, 3 multi-currency
   * margin, 4 portfolio margin. It only changes what the config call reports; margin-mode balances come from
   * `FakeBalance.okx`.
   * @default '1'
   */
  okxAccountLevel?: '1' | '2' | '3' | '4'
}

export interface FakeBinanceOptions {
  /** Request weight one IP may use per window (a minute unless `weightWindowMs` says otherwise) on `/api/*` (Binance spot: 6000). @default 6000 */
  weightPerMinute?: number
  /** Request weight one IP may use per window on `/sapi/*` (reported in `X-SAPI-USED-IP-WEIGHT-1M`). @default 12_000 */
  sapiWeightPerMinute?: number
  /**
   * Length of the fixed windows Binance counts weight in, aligned to the clock (`floor(now / weightWindowMs)`).
   * Binance's is a minute; a test that wants many windows in a few seconds shortens it. The headers keep their
   * names (`X-MBX-USED-WEIGHT-1M`) and report the current window's count; `Retry-After` on a 429 is the rest of it.
   * @default 60_000
   */
  weightWindowMs?: number
  /** 429s one IP may receive within a window; the next request over the limit earns a 418 ban. @default 3 */
  banAfter429s?: number
  /** Length of a first 418 ban; every further ban of the same IP doubles it, up to 3 days. @default 120_000 */
  banMs?: number
  /**
   * Send `Retry-After` with a 418. Binance does not always: the ban's end is then only in the message
   * ("IP banned until 1661313390000").
   * @default true
   */
  banRetryAfter?: boolean
}

export interface FakeOkxOptions {
  /** `GET /api/v5/account/balance` requests one account may make per window (OKX: 10 per 2 s). @default 10 */
  balanceLimit?: number
  /** The window of `balanceLimit`, sliding. @default 2_000 */
  balanceWindowMs?: number
}

export interface FakeExchangeOptions {
  /** Accounts that exist from the start; more can be added with `addAccount`. @default [] */
  accounts?: FakeAccountOptions[]
  /** Time source for rate-limit windows, bans, latency faults, balance functions and timestamp checks. @default the system clock */
  clock?: Clock
  /**
   * Reject signed requests whose timestamp is outside the exchange's window (Binance `recvWindow`, OKX 30 s).
   * Turn it off when `clock` is a fake clock while ccxt signs requests with the real time.
   * @default true
   */
  checkTimestamps?: boolean
  /** Binance spot limits. @default { weightPerMinute: 6000, sapiWeightPerMinute: 12_000, weightWindowMs: 60_000, banAfter429s: 3, banMs: 120_000, banRetryAfter: true } */
  binance?: FakeBinanceOptions
  /** OKX v5 limits. @default { balanceLimit: 10, balanceWindowMs: 2_000 } */
  okx?: FakeOkxOptions
  /** Most entries kept in `requests`; the oldest are dropped first. @default 10_000 */
  maxLogEntries?: number
}

export interface ResolvedFakeExchangeOptions {
  accounts: FakeAccountOptions[]
  clock: Clock
  checkTimestamps: boolean
  binance: Required<FakeBinanceOptions>
  okx: Required<FakeOkxOptions>
  maxLogEntries: number
}

const positiveInt = z.number().int().positive()
const nonEmpty = z.string().min(1).max(256)

export const fakeBalanceSchema = z.strictObject({
  asset: z.string().regex(/^[A-Za-z0-9]{1,20}$/, 'must be 1-20 letters or digits'),
  free: z.string().refine(isNonNegativeDecimal, 'must be a non-negative decimal string'),
  used: z.string().refine(isNonNegativeDecimal, 'must be a non-negative decimal string').optional(),
  okx: z.record(z.string().regex(/^[a-zA-Z]+$/, 'must be a field name'), z.string()).optional(),
})

const balancesSchema = z.union([
  z.array(fakeBalanceSchema),
  z.custom<(now: number) => FakeBalance[]>((value) => typeof value === 'function', 'expected an array or a function'),
])

export const fakeAccountSchema = z
  .strictObject({
    exchange: z.enum(['binance', 'okx']),
    apiKey: nonEmpty,
    secret: nonEmpty,
    password: nonEmpty.optional(),
    balances: balancesSchema.optional(),
    uid: z.number().int().positive().optional(),
    okxAccountLevel: z.enum(['1', '2', '3', '4']).optional(),
  })
  .refine((account) => account.exchange !== 'okx' || account.password !== undefined, {
    message: 'an OKX account needs a password (its passphrase)',
    path: ['password'],
  })

const optionsSchema = z.strictObject({
  accounts: z.array(fakeAccountSchema),
  clock: z.custom<Clock>(
    (value) =>
      typeof value === 'object' &&
      value !== null &&
      ['now', 'setTimeout', 'clearTimeout'].every(
        (method) => typeof (value as Record<string, unknown>)[method] === 'function',
      ),
    'expected an object with methods now, setTimeout, clearTimeout',
  ),
  checkTimestamps: z.boolean(),
  binance: z.strictObject({
    weightPerMinute: positiveInt,
    sapiWeightPerMinute: positiveInt,
    weightWindowMs: positiveInt,
    banAfter429s: positiveInt,
    banMs: positiveInt,
    banRetryAfter: z.boolean(),
  }),
  okx: z.strictObject({ balanceLimit: positiveInt, balanceWindowMs: positiveInt }),
  maxLogEntries: positiveInt,
})

function isNonNegativeDecimal(value: string): boolean {
  return isDecimalString(value) && !value.startsWith('-')
}

/** Applies defaults, then validates once; a bad option throws InvalidOptionError naming the field and value. */
export function resolveFakeExchangeOptions(owner: string, input: FakeExchangeOptions): ResolvedFakeExchangeOptions {
  if (typeof input !== 'object' || input === null) parseOptions(owner, optionsSchema, input)
  const withDefaults = {
    accounts: [],
    clock: systemClock,
    checkTimestamps: true,
    maxLogEntries: 10_000,
    ...withoutUndefined(input),
    binance: {
      weightPerMinute: 6000,
      sapiWeightPerMinute: 12_000,
      weightWindowMs: 60_000,
      banAfter429s: 3,
      banMs: 120_000,
      banRetryAfter: true,
      ...withoutUndefined(input.binance ?? {}),
    },
    okx: { balanceLimit: 10, balanceWindowMs: 2_000, ...withoutUndefined(input.okx ?? {}) },
  }
  return parseOptions(owner, optionsSchema, withDefaults) as ResolvedFakeExchangeOptions
}
