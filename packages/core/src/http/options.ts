import { z } from 'zod'
import { fn, positiveInt, withMethods } from '../errors/optionSchemas.js'
import { parseOptions, withoutUndefined } from '../errors/parseOptions.js'
import { type Clock, systemClock } from '../scheduler/clock.js'
import type { Scheduler } from '../scheduler/scheduler.js'
import type { SyncStore } from '../store/syncStore.js'

/** What the handler uses of a SyncScheduler. */
export type SyncHandlerScheduler = Pick<
  Scheduler,
  'syncNow' | 'markActive' | 'on' | 'off' | 'exchanges' | 'verifyCredentials' | 'health'
>

/** The user id of a request, or null/undefined for none (401). May be async (a session lookup). */
export type ResolveUser<R> = (request: R) => string | null | undefined | Promise<string | null | undefined>

export interface SyncHandlerOptions {
  /**
   * Syncs the connections; the handler calls its `syncNow` and `markActive`, relays its events, accepts new
   * connections only for its `exchanges`, test-fetches new keys with its `verifyCredentials` (inside the
   * exchange's rate-limit budget), and answers `GET /health` with its `health()`.
   */
  scheduler: SyncHandlerScheduler
  /** The store the scheduler uses. */
  store: SyncStore
  /**
   * Who is asking: the user id, or null for nobody (every route then answers 401). Read your session cookie or
   * bearer token here. A throw is answered 500 and reported to `onError`.
   */
  resolveUser: ResolveUser<Request>
  /**
   * The path the routes live under, e.g. `/api/syncfolio` when the handler sees full URLs such as
   * `/api/syncfolio/connections`. Leave empty when the framework strips the mount path (Express `app.use`).
   * Requests outside it are 404.
   * @default ''
   */
  basePath?: string
  /** Largest request body accepted; larger ones are 413, cut off while reading. @default 16_384 */
  maxBodyBytes?: number
  /**
   * Least time between two manual syncs of one connection; sooner is 429 with Retry-After. Counted from the last
   * accepted request, so being refused does not push the wait further.
   * @default 15_000
   */
  manualSyncIntervalMs?: number
  /**
   * Most `POST /connections` attempts one user may make within `addConnectionWindowMs` (each test-fetches keys at
   * the exchange, valid or not); more is 429 `ADD_THROTTLED` with Retry-After.
   * @default 5
   */
  addConnectionLimit?: number
  /** The window `addConnectionLimit` counts in. @default 60_000 */
  addConnectionWindowMs?: number
  /**
   * How long `POST /connections/:id/sync` waits for the sync to end before answering 202 `pending` (the end then
   * arrives as an event).
   * @default 20_000
   */
  syncWaitMs?: number
  /** Time allowed for the test-fetch of new keys; past it the answer is 502 `EXCHANGE_ERROR` (TIMEOUT). @default 30_000 */
  verifyTimeoutMs?: number
  /** Interval of the comment line `GET /events` sends so proxies keep the stream open. @default 15_000 */
  heartbeatMs?: number
  /** Time source for throttling, waits and heartbeats; inject one in tests. @default the system clock */
  clock?: Clock
  /**
   * Called with every unexpected error (a failing store, a throwing `resolveUser`); the client only gets a 500.
   * @default logs with console.error
   */
  onError?: (error: unknown) => void
}

export interface ResolvedHandlerOptions {
  scheduler: SyncHandlerScheduler
  store: SyncStore
  resolveUser: ResolveUser<Request>
  basePath: string
  maxBodyBytes: number
  manualSyncIntervalMs: number
  addConnectionLimit: number
  addConnectionWindowMs: number
  syncWaitMs: number
  verifyTimeoutMs: number
  heartbeatMs: number
  clock: Clock
  onError: (error: unknown) => void
}

const optionsSchema = z.strictObject({
  scheduler: withMethods(['syncNow', 'markActive', 'on', 'off', 'verifyCredentials', 'health']),
  store: withMethods(['get', 'listByUser', 'getBalances', 'add', 'updateCredentials', 'remove']),
  resolveUser: fn,
  basePath: z
    .string()
    .regex(/^(\/[^/?#]+)*$/, 'must be empty or start with "/", without a trailing "/", query or fragment'),
  maxBodyBytes: positiveInt,
  manualSyncIntervalMs: z.number().int().nonnegative(),
  addConnectionLimit: positiveInt,
  addConnectionWindowMs: positiveInt,
  syncWaitMs: z.number().int().nonnegative(),
  verifyTimeoutMs: positiveInt,
  heartbeatMs: positiveInt,
  clock: withMethods(['now', 'setTimeout', 'clearTimeout']),
  onError: fn,
})

/** Applies defaults, then validates once; a bad option throws InvalidOptionError naming the field and value. */
export function resolveHandlerOptions(input: SyncHandlerOptions, owner = 'createSyncHandler'): ResolvedHandlerOptions {
  const withDefaults = {
    basePath: '',
    maxBodyBytes: 16_384,
    manualSyncIntervalMs: 15_000,
    addConnectionLimit: 5,
    addConnectionWindowMs: 60_000,
    syncWaitMs: 20_000,
    verifyTimeoutMs: 30_000,
    heartbeatMs: 15_000,
    clock: systemClock,
    onError: logError,
    ...withoutUndefined(input ?? {}),
  }
  if (typeof input !== 'object' || input === null) parseOptions(owner, optionsSchema, input)
  parseOptions(owner, optionsSchema, withDefaults)
  return withDefaults as unknown as ResolvedHandlerOptions
}

function logError(error: unknown): void {
  console.error('[syncfolio] the HTTP handler failed:', error)
}
