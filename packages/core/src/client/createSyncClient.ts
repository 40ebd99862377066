import { z } from 'zod'
import { fn } from '../errors/optionSchemas.js'
import { parseOptions } from '../errors/parseOptions.js'
import {
  apiErrorBodySchema,
  type ConnectionDetailResponse,
  type ConnectionView,
  type CredentialsInput,
  connectionDetailResponseSchema,
  connectionResponseSchema,
  connectionsResponseSchema,
  exchangesResponseSchema,
  type HealthResponse,
  type HoldingsResponse,
  healthResponseSchema,
  holdingsResponseSchema,
  type NewConnectionInput,
  type SyncEvent,
  type SyncNowResponse,
  syncNowResponseSchema,
} from './contract.js'
import { parseSyncEvent } from './parseSyncEvent.js'
import { readServerSentEvents } from './readServerSentEvents.js'
import { SyncApiError } from './syncApiError.js'

/** The part of `fetch` the client uses; `globalThis.fetch` fits. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>

export type HeadersOption = HeadersInit | (() => HeadersInit | Promise<HeadersInit>)

export interface SyncClientOptions {
  /**
   * Where the syncfolio handler is mounted: a path on the page's origin (`/api/syncfolio`) or an absolute URL
   * (`https://app.example/api/syncfolio`). Trailing slashes are ignored; `''` is the origin's root.
   */
  baseUrl: string
  /**
   * The fetch to call, e.g. one with retries, or the handler itself in tests.
   * @default globalThis.fetch, looked up on each call (so mocks and polyfills installed later still apply)
   */
  fetch?: FetchLike
  /**
   * Headers sent with every request, e.g. `{ Authorization: 'Bearer ...' }`; a function is called before each
   * request, so a token can be refreshed. Cookies need nothing: same-origin requests carry them.
   * @default none
   */
  headers?: HeadersOption
}

export interface RequestOptions {
  /** Aborts the request; the call then rejects with the signal's reason (the fetch AbortError). */
  signal?: AbortSignal
}

export interface HoldingsQuery extends RequestOptions {
  /** Only these connections; `[]` selects none. @default every connection of the user */
  connectionIds?: readonly string[]
}

/**
 * A typed client of the syncfolio HTTP API. Every answer is validated against the contract; every failure rejects
 * with a `SyncApiError` whose `code` says what happened (an aborted request rejects with the abort reason).
 */
export interface SyncClient {
  /** The normalized base URL, without a trailing slash. */
  readonly baseUrl: string
  /** `GET /exchanges`: exchange ids a connection can be added for. */
  listExchanges(options?: RequestOptions): Promise<string[]>
  /** `GET /connections`: the user's connections with their sync status, oldest first. */
  listConnections(options?: RequestOptions): Promise<ConnectionView[]>
  /** `GET /connections/:id`: one connection with its balances. `NOT_FOUND` for an id that is not the user's. */
  getConnection(id: string, options?: RequestOptions): Promise<ConnectionDetailResponse>
  /** `GET /holdings`: balances summed by asset, with `asOf` (the oldest `lastSyncAt` among the connections). */
  getHoldings(query?: HoldingsQuery): Promise<HoldingsResponse>
  /**
   * `POST /connections`: checks the keys with the exchange, then stores them. Rejects with `VALIDATION_FAILED`
   * (bad input or unknown exchange), `CREDENTIALS_REJECTED` or `EXCHANGE_ERROR`; nothing is stored then.
   */
  addConnection(input: NewConnectionInput, options?: RequestOptions): Promise<ConnectionView>
  /** `PUT /connections/:id/credentials`: new keys, checked first; the connection is `active` and due again. */
  updateCredentials(id: string, credentials: CredentialsInput, options?: RequestOptions): Promise<ConnectionView>
  /** `DELETE /connections/:id`. */
  removeConnection(id: string, options?: RequestOptions): Promise<void>
  /** `POST /connections/:id/sync`: `SYNC_THROTTLED` (with `retryAfterMs`) when asked again too soon. */
  syncNow(id: string, options?: RequestOptions): Promise<SyncNowResponse>
  /**
   * `GET /health`: the scheduler's health, no user data. Resolves for a 503 too (the body then says what is
   * wrong, with `ok: false`); rejects only when the answer is neither.
   */
  health(options?: RequestOptions): Promise<HealthResponse>
  /** The URL of `GET /events`, for `new EventSource(client.eventsUrl(), { withCredentials })`. */
  eventsUrl(): string
  /**
   * `GET /events` over fetch (so `headers` apply): the user's sync events as they happen. Ends when the server
   * closes the stream and returns quietly when `signal` aborts; reconnecting is the caller's choice.
   */
  events(options?: RequestOptions): AsyncGenerator<SyncEvent>
}

const optionsSchema = z.strictObject({
  baseUrl: z.string().refine((value) => !/[?#]/.test(value), 'must not hold a query or a fragment'),
  fetch: fn.optional(),
  headers: z
    .custom<HeadersOption>(
      (value) => typeof value === 'function' || (typeof value === 'object' && value !== null),
      'expected headers or a function returning them',
    )
    .optional(),
})

/** Creates the client. Options are checked here, once; a bad one throws InvalidOptionError naming it. */
export function createSyncClient(options: SyncClientOptions): SyncClient {
  parseOptions('createSyncClient', optionsSchema, options)
  const baseUrl = options.baseUrl.replace(/\/+$/, '')
  const fetchImpl: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  const headersOption = options.headers

  async function headersFor(accept: string, json: boolean): Promise<Headers> {
    const headers = new Headers(typeof headersOption === 'function' ? await headersOption() : headersOption)
    headers.set('Accept', accept)
    if (json) headers.set('Content-Type', 'application/json')
    return headers
  }

  async function send(
    method: string,
    path: string,
    body: unknown,
    signal: AbortSignal | undefined,
    accepted: (status: number) => boolean = (status) => status >= 200 && status < 300,
  ) {
    const url = `${baseUrl}${path}`
    const init: RequestInit = { method, headers: await headersFor('application/json', body !== undefined) }
    if (body !== undefined) init.body = JSON.stringify(body)
    if (signal) init.signal = signal
    let response: Response
    try {
      response = await fetchImpl(url, init)
    } catch (error) {
      if (signal?.aborted) throw error
      throw new SyncApiError(0, 'NETWORK', `${method} ${path} got no answer: ${messageOf(error)}`, { cause: error })
    }
    if (!accepted(response.status)) throw await errorFrom(response, method, path)
    return response
  }

  async function call<T>(
    method: string,
    path: string,
    schema: z.ZodType<T>,
    body: unknown,
    signal: AbortSignal | undefined,
    accepted?: (status: number) => boolean,
  ): Promise<T> {
    const response = await send(method, path, body, signal, accepted)
    let json: unknown
    try {
      json = await response.json()
    } catch (error) {
      if (signal?.aborted) throw error
      throw new SyncApiError(response.status, 'INVALID_RESPONSE', `${method} ${path} answered with no JSON body.`, {
        cause: error,
      })
    }
    const result = schema.safeParse(json)
    if (!result.success) {
      const issue = result.error.issues[0] as z.core.$ZodIssue
      const where = issue.path.length > 0 ? ` at ${issue.path.map(String).join('.')}` : ''
      throw new SyncApiError(
        response.status,
        'INVALID_RESPONSE',
        `${method} ${path} answered outside the syncfolio contract${where}: ${issue.message}`,
      )
    }
    return result.data
  }

  const connectionPath = (id: string) => `/connections/${encodeURIComponent(id)}`

  return {
    baseUrl,
    async listExchanges(options = {}) {
      return (await call('GET', '/exchanges', exchangesResponseSchema, undefined, options.signal)).exchanges
    },
    async listConnections(options = {}) {
      return (await call('GET', '/connections', connectionsResponseSchema, undefined, options.signal)).connections
    },
    getConnection(id, options = {}) {
      return call('GET', connectionPath(id), connectionDetailResponseSchema, undefined, options.signal)
    },
    getHoldings(query = {}) {
      const ids = query.connectionIds
      const path = ids === undefined ? '/holdings' : `/holdings?connectionIds=${ids.map(encodeURIComponent).join(',')}`
      return call('GET', path, holdingsResponseSchema, undefined, query.signal)
    },
    async addConnection(input, options = {}) {
      return (await call('POST', '/connections', connectionResponseSchema, input, options.signal)).connection
    },
    async updateCredentials(id, credentials, options = {}) {
      const path = `${connectionPath(id)}/credentials`
      return (await call('PUT', path, connectionResponseSchema, { credentials }, options.signal)).connection
    },
    async removeConnection(id, options = {}) {
      const response = await send('DELETE', connectionPath(id), undefined, options.signal)
      await response.body?.cancel()
    },
    syncNow(id, options = {}) {
      return call('POST', `${connectionPath(id)}/sync`, syncNowResponseSchema, undefined, options.signal)
    },
    health(options = {}) {
      // 503 is the answer of an unhealthy server, not a failed request: its body is the same shape.
      const accepted = (status: number) => status === 200 || status === 503
      return call('GET', '/health', healthResponseSchema, undefined, options.signal, accepted)
    },
    eventsUrl() {
      return `${baseUrl}/events`
    },
    async *events(options = {}) {
      const { signal } = options
      const url = `${baseUrl}/events`
      const init: RequestInit = { method: 'GET', headers: await headersFor('text/event-stream', false) }
      if (signal) init.signal = signal
      let response: Response
      try {
        response = await fetchImpl(url, init)
      } catch (error) {
        if (signal?.aborted) return
        throw new SyncApiError(0, 'NETWORK', `GET /events got no answer: ${messageOf(error)}`, { cause: error })
      }
      if (!response.ok) throw await errorFrom(response, 'GET', '/events')
      const type = response.headers.get('Content-Type') ?? ''
      if (!response.body || !type.toLowerCase().startsWith('text/event-stream')) {
        await response.body?.cancel()
        throw new SyncApiError(response.status, 'INVALID_RESPONSE', `GET /events answered with "${type}".`)
      }
      try {
        for await (const message of readServerSentEvents(response.body)) {
          const event = parseSyncEvent(message.data)
          if (event) yield event
        }
      } catch (error) {
        if (signal?.aborted) return
        throw new SyncApiError(0, 'NETWORK', `The event stream broke: ${messageOf(error)}`, { cause: error })
      }
    },
  }
}

/** Statuses whose meaning does not depend on who wrote the body. */
const AUTH_CODES: Readonly<Record<number, 'UNAUTHORIZED' | 'FORBIDDEN'>> = { 401: 'UNAUTHORIZED', 403: 'FORBIDDEN' }

async function errorFrom(response: Response, method: string, path: string): Promise<SyncApiError> {
  const retryAfterMs = parseRetryAfter(response.headers.get('Retry-After'))
  let body: unknown
  try {
    body = await response.json()
  } catch {
    body = undefined
  }
  const parsed = apiErrorBodySchema.safeParse(body)
  // A guard or auth middleware in front of the API answers in its own shape (Nest: `{ statusCode, message }`);
  // the documented `code === 'UNAUTHORIZED'` branch must run whoever refused.
  const auth = AUTH_CODES[response.status]
  if (auth !== undefined) {
    const message = parsed.success
      ? parsed.data.error.message
      : `${method} ${path} was refused (HTTP ${response.status}).`
    return new SyncApiError(response.status, auth, message)
  }
  if (!parsed.success) {
    return new SyncApiError(response.status, 'HTTP_ERROR', `${method} ${path} failed with HTTP ${response.status}.`, {
      ...(retryAfterMs !== undefined && { retryAfterMs }),
    })
  }
  const { code, message, issues, reason } = parsed.data.error
  const wait = parsed.data.error.retryAfterMs ?? retryAfterMs
  return new SyncApiError(response.status, code, message, {
    ...(issues !== undefined && { issues }),
    ...(reason !== undefined && { reason }),
    ...(wait !== undefined && { retryAfterMs: wait }),
  })
}

/** `Retry-After` in seconds (the only form the handler sends), as milliseconds. */
function parseRetryAfter(value: string | null): number | undefined {
  if (value === null || !/^\d+$/.test(value.trim())) return undefined
  return Number(value.trim()) * 1000
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
