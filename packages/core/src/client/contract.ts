import { z } from 'zod'

/*
 * The wire contract of the syncfolio HTTP API: every request and response body, the error body and the
 * Server-Sent Events, as zod schemas shared by the server handler (`createSyncHandler`) and the browser client
 * (`createSyncClient`). Request schemas are strict (unknown keys are a 400); response schemas strip unknown keys so
 * an older client keeps working against a newer server that adds fields.
 */

const DECIMAL = /^-?\d+(\.\d+)?$/

/** A decimal amount as a string, exactly as the exchange sent it (never a float). */
export const decimalStringSchema = z.string().max(80).regex(DECIMAL, 'expected a decimal string')

// --- shared shapes ----------------------------------------------------------------------------------------

/** One asset's balance; amounts are decimal strings. */
export const balanceSchema = z.object({
  asset: z.string(),
  free: decimalStringSchema,
  used: decimalStringSchema,
  total: decimalStringSchema,
})
export type Balance = z.infer<typeof balanceSchema>

export const connectionStatusSchema = z.enum(['active', 'paused', 'error'])
export type ConnectionStatus = z.infer<typeof connectionStatusSchema>

/**
 * A connection as the API shows it to its owner: sync status, no credentials, no user id. Every field is always
 * present (`label` and the times are null when unset). Times are epoch milliseconds.
 */
export const connectionViewSchema = z.object({
  id: z.string(),
  /** The exchange adapter id, e.g. `binance`. */
  exchange: z.string(),
  label: z.string().nullable(),
  /** `error`: the keys were rejected; the connection stays out of the schedule until new credentials. */
  status: connectionStatusSchema,
  /** Start of the last successful sync: the balances are at least this fresh. */
  lastSyncAt: z.number().nullable(),
  lastAttemptAt: z.number().nullable(),
  /** When the next background sync is due; null means due now. */
  nextSyncAt: z.number().nullable(),
  failureCount: z.number().int().nonnegative(),
  lastError: z.object({ code: z.string(), message: z.string(), at: z.number() }).nullable(),
})
export type ConnectionView = z.infer<typeof connectionViewSchema>

/** Why a sync failed, as it travels on the wire: a SyncError code and a message free of secrets. */
export const syncErrorViewSchema = z.object({ code: z.string(), message: z.string() })
export type SyncErrorView = z.infer<typeof syncErrorViewSchema>

// --- requests ---------------------------------------------------------------------------------------------

/** Limits on request fields: generous for real keys (some exchanges use PEM private keys as the secret). */
export const FIELD_LIMITS = {
  exchange: 64,
  label: 100,
  apiKey: 512,
  secret: 8192,
  password: 512,
  uid: 256,
} as const

/** API keys of one exchange account. `password` is the passphrase some exchanges (OKX) require. */
export const credentialsInputSchema = z.strictObject({
  apiKey: z.string().trim().min(1).max(FIELD_LIMITS.apiKey),
  secret: z.string().trim().min(1).max(FIELD_LIMITS.secret),
  password: z.string().min(1).max(FIELD_LIMITS.password).optional(),
  uid: z.string().trim().min(1).max(FIELD_LIMITS.uid).optional(),
})
export type CredentialsInput = z.input<typeof credentialsInputSchema>

/** Body of `POST /connections`. The server also checks `exchange` against its configured adapters. */
export const newConnectionInputSchema = z.strictObject({
  exchange: z.string().min(1).max(FIELD_LIMITS.exchange),
  label: z.string().trim().min(1).max(FIELD_LIMITS.label).optional(),
  credentials: credentialsInputSchema,
})
export type NewConnectionInput = z.input<typeof newConnectionInputSchema>

/** Body of `PUT /connections/:id/credentials`. */
export const updateCredentialsInputSchema = z.strictObject({
  credentials: credentialsInputSchema,
})
export type UpdateCredentialsInput = z.input<typeof updateCredentialsInputSchema>

// --- responses --------------------------------------------------------------------------------------------

/** `GET /exchanges`: the exchange ids a connection can be added for. */
export const exchangesResponseSchema = z.object({ exchanges: z.array(z.string()) })
export type ExchangesResponse = z.infer<typeof exchangesResponseSchema>

/** `GET /connections`: the user's connections, oldest first. */
export const connectionsResponseSchema = z.object({ connections: z.array(connectionViewSchema) })
export type ConnectionsResponse = z.infer<typeof connectionsResponseSchema>

/** `POST /connections` (201) and `PUT /connections/:id/credentials` (200). */
export const connectionResponseSchema = z.object({ connection: connectionViewSchema })
export type ConnectionResponse = z.infer<typeof connectionResponseSchema>

/** `GET /connections/:id`: the connection with its last synced balances (empty before the first sync). */
export const connectionDetailResponseSchema = z.object({
  connection: connectionViewSchema,
  balances: z.array(balanceSchema),
})
export type ConnectionDetailResponse = z.infer<typeof connectionDetailResponseSchema>

/** One asset summed across connections. */
export const holdingSchema = balanceSchema
export type Holding = z.infer<typeof holdingSchema>

/**
 * `GET /holdings`: balances summed exactly by asset (sorted by asset) across the selected connections.
 * `asOf` is the oldest `lastSyncAt` among them: the sum is at least that fresh. It is null when there is no
 * connection or when one of them has never synced (the sum is then missing that connection's balances).
 */
export const holdingsResponseSchema = z.object({
  holdings: z.array(holdingSchema),
  asOf: z.number().nullable(),
  connectionIds: z.array(z.string()),
})
export type HoldingsResponse = z.infer<typeof holdingsResponseSchema>

/**
 * `POST /connections/:id/sync`. `success` and `failure` (status 200) say how the sync ended; `pending` (status
 * 202) means it is still queued or running after the server stopped waiting, and its end arrives as an event.
 * `connection` is re-read after the sync, so its times are current.
 */
export const syncNowResponseSchema = z.discriminatedUnion('outcome', [
  z.object({ outcome: z.literal('success'), connection: connectionViewSchema, balances: z.array(balanceSchema) }),
  z.object({ outcome: z.literal('failure'), connection: connectionViewSchema, error: syncErrorViewSchema }),
  z.object({ outcome: z.literal('pending'), connection: connectionViewSchema }),
])
export type SyncNowResponse = z.infer<typeof syncNowResponseSchema>

/** One exchange in `GET /health`: its last finished sweep, its pause, its budget and its queue. */
export const exchangeHealthSchema = z.object({
  /** End of the exchange's last finished sweep, epoch ms; null before the first. */
  lastSweepAt: z.number().nullable(),
  /** Until when the exchange is paused (a Retry-After, a ban); null when it is not. */
  pausedUntil: z.number().nullable(),
  /** Weight left in the tightest exchange-scope budget window; null when the exchange has no budget. */
  budgetLeft: z.number().nullable(),
  inFlight: z.number().int().nonnegative(),
  queued: z.number().int().nonnegative(),
})
export type ExchangeHealth = z.infer<typeof exchangeHealthSchema>

/**
 * `GET /health` (200 when `ok`, 503 when not): the scheduler's `health()`, with no user data. Not ok while the
 * store's last call failed, or when a started scheduler has finished no sweep within two intervals.
 */
export const healthResponseSchema = z.object({
  ok: z.boolean(),
  exchanges: z.record(z.string(), exchangeHealthSchema),
  store: z.object({
    ok: z.boolean(),
    /** The last failed store call, scrubbed; null once a call succeeds again. */
    lastError: z.object({ message: z.string(), at: z.number() }).nullable(),
  }),
})
export type HealthResponse = z.infer<typeof healthResponseSchema>

// --- errors -----------------------------------------------------------------------------------------------

/** The `code` of an error body. Callers switch on it, never on the message. */
export const API_ERROR_CODES = [
  /** 401: no user. */
  'UNAUTHORIZED',
  /** 404: no such route, or no connection with this id for this user (another user's id included). */
  'NOT_FOUND',
  /** 405: the route exists but not with this method; see the `Allow` header. */
  'METHOD_NOT_ALLOWED',
  /** 400: the body is not JSON (or not UTF-8, or empty). The body is never echoed. */
  'INVALID_JSON',
  /** 400: the body or query does not match the schema; see `issues`. */
  'VALIDATION_FAILED',
  /** 413: the body is larger than the handler's `maxBodyBytes`. */
  'PAYLOAD_TOO_LARGE',
  /** 415: the body is not `application/json` (UTF-8). */
  'UNSUPPORTED_MEDIA_TYPE',
  /** 422: the exchange rejected the keys (`reason`: `AUTH_FAILED`, `PERMISSION_DENIED` or `ACCOUNT_SUSPENDED`). */
  'CREDENTIALS_REJECTED',
  /** 502: the keys could not be checked because the exchange failed (`reason`: the SyncError code). */
  'EXCHANGE_ERROR',
  /** 409: the connection's exchange has no adapter on this server, so its keys cannot be checked. */
  'EXCHANGE_NOT_CONFIGURED',
  /** 429: a manual sync of this connection was requested too recently; see `retryAfterMs` and `Retry-After`. */
  'SYNC_THROTTLED',
  /** 429: the exchange's rate limit leaves no room for this connection's sync now; see `retryAfterMs`. */
  'RATE_LIMITED',
  /** 429: this user added (or tried to add) connections too often; see `retryAfterMs` and `Retry-After`. */
  'ADD_THROTTLED',
  /** 403: the app's own auth refused the request (a guard or middleware in front of the API). */
  'FORBIDDEN',
  /** 500: something failed on the server; details go to the handler's `onError`, never to the client. */
  'INTERNAL',
] as const
export type ApiErrorCode = (typeof API_ERROR_CODES)[number]

/** One validation problem: where (`path` into the body or query) and what. Never carries the value received. */
export const apiIssueSchema = z.object({
  path: z.array(z.union([z.string(), z.number()])),
  code: z.string(),
  message: z.string(),
})
export type ApiIssue = z.infer<typeof apiIssueSchema>

/** Every non-2xx JSON answer: `{ error: { code, message, issues?, reason?, retryAfterMs? } }`. */
export const apiErrorBodySchema = z.object({
  error: z.object({
    /** One of `API_ERROR_CODES` (a string, so a newer server's codes still parse). */
    code: z.string(),
    message: z.string(),
    issues: z.array(apiIssueSchema).optional(),
    /** With CREDENTIALS_REJECTED and EXCHANGE_ERROR: the SyncError code behind it. */
    reason: z.string().optional(),
    /** With SYNC_THROTTLED (and EXCHANGE_ERROR after a rate limit): how long to wait. */
    retryAfterMs: z.number().optional(),
  }),
})
export type ApiErrorBody = z.infer<typeof apiErrorBodySchema>

// --- Server-Sent Events -----------------------------------------------------------------------------------

/** The SSE `event:` names of `GET /events`; the `data:` JSON repeats the name as `type`. */
export const SYNC_EVENT_TYPES = ['sync:start', 'sync:success', 'sync:failure', 'connection:disabled'] as const
export type SyncEventType = (typeof SYNC_EVENT_TYPES)[number]

const eventBase = {
  connectionId: z.string(),
  exchange: z.string(),
}
const trigger = z.enum(['sweep', 'manual'])
/** Which process ran the sync, when the server runs a cluster (`BullmqScheduler`); absent in one process. */
const worker = z.string().optional()

/** A sync event of one of the user's connections. No balances: refetch what the event says changed. */
export const syncEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('sync:start'), ...eventBase, trigger, worker, startedAt: z.number() }),
  z.object({
    type: z.literal('sync:success'),
    ...eventBase,
    trigger,
    worker,
    startedAt: z.number(),
    finishedAt: z.number(),
    nextSyncAt: z.number(),
  }),
  z.object({
    type: z.literal('sync:failure'),
    ...eventBase,
    trigger,
    worker,
    startedAt: z.number(),
    finishedAt: z.number(),
    /** Null when nothing was recorded (the sync was cancelled). */
    nextSyncAt: z.number().nullable(),
    /** The keys were rejected: the connection is now `error` until new credentials. */
    disabled: z.boolean(),
    error: syncErrorViewSchema,
  }),
  z.object({ type: z.literal('connection:disabled'), ...eventBase, error: syncErrorViewSchema }),
])
export type SyncEvent = z.infer<typeof syncEventSchema>
