import { z } from 'zod'
import {
  type ApiIssue,
  type ConnectionDetailResponse,
  type ConnectionResponse,
  type ConnectionsResponse,
  type CredentialsInput,
  type ExchangesResponse,
  type HealthResponse,
  type HoldingsResponse,
  healthResponseSchema,
  newConnectionInputSchema,
  type SyncNowResponse,
  updateCredentialsInputSchema,
} from '../client/contract.js'
import type { SyncOutcome, VerifyCredentialsResult } from '../scheduler/events.js'
import type { Connection, Credentials } from '../types.js'
import { AttemptWindow } from './attemptWindow.js'
import { draftConnection } from './draftConnection.js'
import { connectionNotFound, HttpProblem } from './httpProblem.js'
import { emptyResponse, jsonResponse } from './jsonResponse.js'
import { ManualSyncThrottle } from './manualSyncThrottle.js'
import { openEventStream } from './openEventStream.js'
import { type ResolvedHandlerOptions, resolveHandlerOptions, type SyncHandlerOptions } from './options.js'
import { readJsonBody } from './readJsonBody.js'
import { sumHoldings } from './sumHoldings.js'
import { SyncEventHub } from './syncEventHub.js'
import { toConnectionView } from './toConnectionView.js'

/** A Fetch-standard request handler: mount it in any server that speaks `Request` and `Response`. */
export type SyncHandler = (request: Request) => Promise<Response>

type RouteName =
  | 'listExchanges'
  | 'listConnections'
  | 'addConnection'
  | 'getConnection'
  | 'removeConnection'
  | 'updateCredentials'
  | 'syncNow'
  | 'holdings'
  | 'events'
  | 'health'

interface Route {
  /** Path segments after the base path; `:id` captures a connection id. */
  readonly segments: readonly string[]
  readonly methods: Readonly<Record<string, RouteName>>
}

const ROUTES: readonly Route[] = [
  { segments: ['exchanges'], methods: { GET: 'listExchanges' } },
  { segments: ['connections'], methods: { GET: 'listConnections', POST: 'addConnection' } },
  { segments: ['connections', ':id'], methods: { GET: 'getConnection', DELETE: 'removeConnection' } },
  { segments: ['connections', ':id', 'credentials'], methods: { PUT: 'updateCredentials' } },
  { segments: ['connections', ':id', 'sync'], methods: { POST: 'syncNow' } },
  { segments: ['holdings'], methods: { GET: 'holdings' } },
  { segments: ['events'], methods: { GET: 'events' } },
  { segments: ['health'], methods: { GET: 'health' } },
]

const MAX_ID_LENGTH = 256
const MAX_HOLDINGS_IDS = 200
const MAX_ISSUES = 20

/**
 * The syncfolio HTTP API as a Fetch-standard handler: `(request: Request) => Promise<Response>`.
 *
 * Every route but `GET /health` needs a user (`resolveUser`, else 401); a connection of another user is a 404
 * exactly like a missing one; no answer carries credentials; bodies are size-capped JSON checked against the
 * contract in `@syncfolio/core/client`. Routes (under `basePath`): `GET /exchanges`, `GET|POST /connections`,
 * `GET|DELETE /connections/:id`, `PUT /connections/:id/credentials`, `POST /connections/:id/sync`,
 * `GET /holdings?connectionIds=a,b`, `GET /events` (Server-Sent Events), and `GET /health` (the scheduler's
 * `health()`, 200 when ok, 503 when not; no user data, so `resolveUser` is not asked). Options are validated here,
 * once.
 */
export function createSyncHandler(options: SyncHandlerOptions): SyncHandler {
  return createNamedSyncHandler('createSyncHandler', options)
}

/**
 * `createSyncHandler` for a binding (Express, Nest): a bad option's error names `owner`, the function the user
 * called, rather than the handler inside it.
 */
export function createNamedSyncHandler(owner: string, options: SyncHandlerOptions): SyncHandler {
  const api = new SyncHttpApi(resolveHandlerOptions(options, owner))
  return (request) => api.handle(request)
}

class SyncHttpApi {
  readonly #options: ResolvedHandlerOptions
  readonly #throttle: ManualSyncThrottle
  readonly #addAttempts: AttemptWindow
  readonly #hub: SyncEventHub
  readonly #newConnectionSchema

  constructor(options: ResolvedHandlerOptions) {
    this.#options = options
    this.#throttle = new ManualSyncThrottle(options.manualSyncIntervalMs, options.clock)
    this.#addAttempts = new AttemptWindow(options.addConnectionLimit, options.addConnectionWindowMs, options.clock)
    this.#hub = new SyncEventHub(options.scheduler)
    const known = options.scheduler.exchanges
    // Only configured ids pass, which also covers the empty and over-long ids of the shared schema.
    this.#newConnectionSchema = newConnectionInputSchema.extend({
      exchange: z.string().refine((id) => known.includes(id), {
        message: `Unknown exchange; this server syncs ${known.join(', ')}`,
      }),
    })
  }

  async handle(request: Request): Promise<Response> {
    try {
      return await this.#route(request)
    } catch (error) {
      if (error instanceof HttpProblem) return error.toResponse()
      this.#report(error)
      return new HttpProblem(500, 'INTERNAL', 'The server could not answer; try again later.').toResponse()
    }
  }

  async #route(request: Request): Promise<Response> {
    const url = new URL(request.url)
    const match = matchRoute(url.pathname, this.#options.basePath)
    if (!match) throw new HttpProblem(404, 'NOT_FOUND', 'No such route.')
    // An own-property lookup: a method such as `toString` or `__proto__` must not find Object.prototype's members.
    const { methods } = match.route
    const name = Object.hasOwn(methods, request.method) ? methods[request.method] : undefined
    if (name === undefined) {
      const allow = Object.keys(match.route.methods).join(', ')
      throw new HttpProblem(405, 'METHOD_NOT_ALLOWED', `This route accepts ${allow}.`, { headers: { Allow: allow } })
    }
    // Probes carry no session, and the answer holds no user data: the app's auth is not asked.
    if (name === 'health') return this.#health()
    const userId = await this.#user(request)
    const id = match.id as string
    switch (name) {
      case 'listExchanges':
        return this.#listExchanges()
      case 'listConnections':
        return this.#listConnections(userId)
      case 'addConnection':
        return this.#addConnection(userId, request)
      case 'getConnection':
        return this.#getConnection(userId, id)
      case 'removeConnection':
        return this.#removeConnection(userId, id)
      case 'updateCredentials':
        return this.#updateCredentials(userId, id, request)
      case 'syncNow':
        return this.#syncNow(userId, id, request)
      case 'holdings':
        return this.#holdings(userId, url)
      case 'events':
        this.#options.scheduler.markActive(userId)
        return openEventStream(this.#hub, userId, {
          signal: request.signal,
          clock: this.#options.clock,
          heartbeatMs: this.#options.heartbeatMs,
        })
    }
  }

  // --- routes ---------------------------------------------------------------------------------------------

  #listExchanges(): Response {
    const body: ExchangesResponse = { exchanges: this.#options.scheduler.exchanges }
    return jsonResponse(200, body)
  }

  /**
   * For probes and dashboards: the scheduler's own health. Passed through the contract's schema, so only its known
   * fields leave, whatever a scheduler adds to it; one outside the contract is a 500 reported to `onError`.
   */
  #health(): Response {
    const body: HealthResponse = healthResponseSchema.parse(this.#options.scheduler.health())
    return jsonResponse(body.ok ? 200 : 503, body)
  }

  async #listConnections(userId: string): Promise<Response> {
    this.#options.scheduler.markActive(userId)
    const connections = await this.#options.store.listByUser(userId)
    const body: ConnectionsResponse = {
      connections: connections.filter((connection) => connection.userId === userId).map(toConnectionView),
    }
    return jsonResponse(200, body)
  }

  async #getConnection(userId: string, id: string): Promise<Response> {
    this.#options.scheduler.markActive(userId)
    const connection = await this.#owned(userId, id)
    const balances = (await this.#options.store.getBalances(id)) ?? []
    const body: ConnectionDetailResponse = {
      connection: toConnectionView(connection),
      balances: balances.map(({ asset, free, used, total }) => ({ asset, free, used, total })),
    }
    return jsonResponse(200, body)
  }

  async #holdings(userId: string, url: URL): Promise<Response> {
    this.#options.scheduler.markActive(userId)
    const wanted = parseConnectionIds(url.searchParams.getAll('connectionIds'))
    const { store } = this.#options
    const owned = (await store.listByUser(userId)).filter((connection) => connection.userId === userId)
    let selected = owned
    if (wanted !== null) {
      const byId = new Map(owned.map((connection) => [connection.id, connection]))
      selected = wanted.map((id) => {
        const connection = byId.get(id)
        if (!connection) throw connectionNotFound()
        return connection
      })
    }
    const loaded = await Promise.all(
      selected.map(async (connection) => ({ connection, balances: await store.getBalances(connection.id) })),
    )
    // A connection removed since the listing has no balances left; it is simply not part of the sum.
    const entries = loaded.flatMap(({ connection, balances }) => (balances ? [{ connection, balances }] : []))
    const body: HoldingsResponse = {
      ...sumHoldings(entries),
      connectionIds: entries.map(({ connection }) => connection.id),
    }
    return jsonResponse(200, body)
  }

  async #addConnection(userId: string, request: Request): Promise<Response> {
    // Each attempt test-fetches keys at the exchange, inside a shared budget: one user must not spend it guessing.
    const waitMs = this.#addAttempts.take(userId)
    if (waitMs > 0) {
      throw new HttpProblem(429, 'ADD_THROTTLED', 'Too many connections were added moments ago; try again later.', {
        retryAfterMs: waitMs,
        headers: { 'Retry-After': String(Math.ceil(waitMs / 1000)) },
      })
    }
    const input = await this.#parseBody(request, this.#newConnectionSchema)
    const credentials = toCredentials(input.credentials)
    const connection = draftConnection({
      userId,
      exchange: input.exchange,
      ...(input.label !== undefined && { label: input.label }),
    })
    await this.#verify(connection, credentials, request.signal)
    const stored = await this.#options.store.add({
      userId,
      exchange: input.exchange,
      ...(input.label !== undefined && { label: input.label }),
      credentials,
    })
    // The user is looking at the new connection: its first sync should come before idle users' syncs.
    this.#options.scheduler.markActive(userId)
    const body: ConnectionResponse = { connection: toConnectionView(stored) }
    return jsonResponse(201, body)
  }

  async #updateCredentials(userId: string, id: string, request: Request): Promise<Response> {
    const connection = await this.#owned(userId, id)
    const input = await this.#parseBody(request, updateCredentialsInputSchema)
    const credentials = toCredentials(input.credentials)
    await this.#verify(connection, credentials, request.signal)
    const updated = await this.#options.store.updateCredentials(id, credentials)
    if (!updated) throw connectionNotFound()
    this.#options.scheduler.markActive(userId)
    const body: ConnectionResponse = { connection: toConnectionView(updated) }
    return jsonResponse(200, body)
  }

  async #removeConnection(userId: string, id: string): Promise<Response> {
    await this.#owned(userId, id)
    if (!(await this.#options.store.remove(id))) throw connectionNotFound()
    return emptyResponse(204)
  }

  async #syncNow(userId: string, id: string, request: Request): Promise<Response> {
    const { scheduler, store } = this.#options
    await this.#owned(userId, id)
    scheduler.markActive(userId)
    const waitMs = this.#throttle.take(id)
    if (waitMs > 0) {
      throw new HttpProblem(429, 'SYNC_THROTTLED', 'This connection was synced on request moments ago.', {
        retryAfterMs: waitMs,
        headers: { 'Retry-After': String(Math.ceil(waitMs / 1000)) },
      })
    }
    let outcome: SyncOutcome | 'pending'
    try {
      outcome = await this.#waitFor(scheduler.syncNow(id), request.signal)
    } catch (error) {
      // syncNow rejects for an unknown id: the connection was removed since the check above.
      if ((await store.get(id)) === null) throw connectionNotFound()
      throw error
    }
    const connection = await store.get(id)
    if (!connection || connection.userId !== userId) throw connectionNotFound()
    const view = toConnectionView(connection)
    let body: SyncNowResponse
    if (outcome === 'pending') return jsonResponse(202, { outcome: 'pending', connection: view } as SyncNowResponse)
    if (!outcome.ok && outcome.error.code === 'RATE_LIMITED' && outcome.error.retryAfterMs !== undefined) {
      // The exchange's budget for this connection leaves no room within the wait: say when to ask again.
      const { retryAfterMs } = outcome.error
      throw new HttpProblem(429, 'RATE_LIMITED', 'The exchange allows no sync of this connection right now.', {
        retryAfterMs,
        headers: { 'Retry-After': String(Math.ceil(retryAfterMs / 1000)) },
      })
    }
    if (outcome.ok) {
      body = {
        outcome: 'success',
        connection: view,
        balances: outcome.balances.map(({ asset, free, used, total }) => ({ asset, free, used, total })),
      }
    } else {
      body = {
        outcome: 'failure',
        connection: view,
        error: { code: outcome.error.code, message: outcome.error.message },
      }
    }
    return jsonResponse(200, body)
  }

  // --- helpers --------------------------------------------------------------------------------------------

  async #user(request: Request): Promise<string> {
    const user = await this.#options.resolveUser(request)
    if (typeof user !== 'string' || user.length === 0) {
      throw new HttpProblem(401, 'UNAUTHORIZED', 'Sign in to use this API.')
    }
    return user
  }

  /** The connection when it exists and belongs to the user; the same 404 otherwise, whoever owns it. */
  async #owned(userId: string, id: string): Promise<Connection> {
    const connection = await this.#options.store.get(id)
    if (!connection || connection.userId !== userId) throw connectionNotFound()
    return connection
  }

  async #parseBody<T extends z.ZodType>(request: Request, schema: T): Promise<z.output<T>> {
    const value = await readJsonBody(request, this.#options.maxBodyBytes)
    const parsed = schema.safeParse(value)
    if (!parsed.success) {
      throw new HttpProblem(400, 'VALIDATION_FAILED', 'The body does not match the expected shape; see issues.', {
        issues: toIssues(parsed.error),
      })
    }
    return parsed.data
  }

  /** Test-fetches the keys; throws 422 when the exchange refuses them, 502 when it could not tell. */
  async #verify(connection: Connection, credentials: Credentials, signal: AbortSignal): Promise<void> {
    const { scheduler, verifyTimeoutMs } = this.#options
    if (!scheduler.exchanges.includes(connection.exchange)) {
      throw new HttpProblem(409, 'EXCHANGE_NOT_CONFIGURED', `This server no longer syncs ${connection.exchange}.`)
    }
    const result: VerifyCredentialsResult = await scheduler.verifyCredentials(
      { connection, credentials },
      { signal, timeoutMs: verifyTimeoutMs },
    )
    if (result.ok) return
    const { error } = result
    if (error.permanent) {
      throw new HttpProblem(422, 'CREDENTIALS_REJECTED', `The exchange refused these keys: ${error.message}`, {
        reason: error.code,
      })
    }
    const retryAfterMs = error.retryAfterMs
    throw new HttpProblem(502, 'EXCHANGE_ERROR', `The keys could not be checked: ${error.message}`, {
      reason: error.code,
      ...(retryAfterMs !== undefined && {
        retryAfterMs,
        headers: { 'Retry-After': String(Math.ceil(retryAfterMs / 1000)) },
      }),
    })
  }

  /** The promise's value, or `pending` once `syncWaitMs` passes or the client goes away. */
  #waitFor<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | 'pending'> {
    const { clock, syncWaitMs } = this.#options
    return new Promise((resolve, reject) => {
      const settle = (finish: () => void) => {
        clock.clearTimeout(timer)
        signal.removeEventListener('abort', onAbort)
        finish()
      }
      const onAbort = () => settle(() => resolve('pending'))
      const timer = clock.setTimeout(onAbort, syncWaitMs)
      if (signal.aborted) return onAbort()
      signal.addEventListener('abort', onAbort, { once: true })
      promise.then(
        (value) => settle(() => resolve(value)),
        (error) => settle(() => reject(error)),
      )
    })
  }

  #report(error: unknown): void {
    try {
      this.#options.onError(error)
    } catch {
      // A throwing error reporter must not turn a 500 into an unanswered request.
    }
  }
}

function matchRoute(pathname: string, basePath: string): { route: Route; id: string | undefined } | null {
  let path = pathname
  if (basePath !== '') {
    if (path !== basePath && !path.startsWith(`${basePath}/`)) return null
    path = path.slice(basePath.length)
  }
  if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1)
  const segments = path === '' || path === '/' ? [] : path.split('/').slice(1)
  for (const route of ROUTES) {
    if (route.segments.length !== segments.length) continue
    let id: string | undefined
    const fits = route.segments.every((segment, index) => {
      const actual = segments[index] as string
      if (segment !== ':id') return segment === actual
      id = actual
      return true
    })
    if (!fits) continue
    if (id === undefined) return { route, id }
    const decoded = decodeId(id)
    return decoded === null ? null : { route, id: decoded }
  }
  return null
}

function decodeId(raw: string): string | null {
  try {
    const id = decodeURIComponent(raw)
    return id.length > 0 && id.length <= MAX_ID_LENGTH ? id : null
  } catch {
    return null
  }
}

/** `connectionIds=a,b` (or repeated): the ids, deduplicated; null when the parameter is absent (all of them). */
function parseConnectionIds(values: string[]): string[] | null {
  if (values.length === 0) return null
  const ids = [...new Set(values.flatMap((value) => value.split(',')).map((id) => id.trim()))].filter(Boolean)
  if (ids.length > MAX_HOLDINGS_IDS) {
    throw new HttpProblem(400, 'VALIDATION_FAILED', 'Too many connection ids; see issues.', {
      issues: [{ path: ['connectionIds'], code: 'too_big', message: `At most ${MAX_HOLDINGS_IDS} ids` }],
    })
  }
  return ids
}

function toCredentials(input: CredentialsInput): Credentials {
  return {
    apiKey: input.apiKey,
    secret: input.secret,
    ...(input.password !== undefined && { password: input.password }),
    ...(input.uid !== undefined && { uid: input.uid }),
  }
}

/** Where and what, never the value received (it may be a secret). */
function toIssues(error: z.ZodError): ApiIssue[] {
  return error.issues.slice(0, MAX_ISSUES).map((issue) => ({
    path: issue.path.map((key) => (typeof key === 'number' ? key : String(key))),
    code: issue.code,
    message: issue.message,
  }))
}
