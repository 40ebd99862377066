import type { Balance, ConnectionView, HoldingsResponse, SyncEvent } from '@syncfolio/core/client'
import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { render } from '@testing-library/react'
import { HttpResponse, http } from 'msw'
import { setupServer } from 'msw/node'
import type { ReactNode } from 'react'
import { SyncfolioProvider, type SyncfolioProviderProps } from '../SyncfolioProvider.js'

/*
 * An in-memory syncfolio HTTP API behind msw, for the React tests: it answers the routes the hooks call, counts
 * every request by route, and serves `GET /events` as a Server-Sent Events stream the test writes to.
 */

export const BASE_URL = 'http://app.test/api/syncfolio'

export function connectionView(id: string, overrides: Partial<ConnectionView> = {}): ConnectionView {
  return {
    id,
    exchange: 'binance',
    label: null,
    status: 'active',
    lastSyncAt: null,
    lastAttemptAt: null,
    nextSyncAt: null,
    failureCount: 0,
    lastError: null,
    ...overrides,
  }
}

/** One open `GET /events` response the test can write events to. */
export interface EventStream {
  readonly request: Request
  /** The client went away: it aborted the request or cancelled the body. */
  readonly closed: boolean
  send(event: SyncEvent): void
  /** Ends the stream as a server restart would. */
  end(): void
}

export interface FakeApi {
  connections: ConnectionView[]
  balances: Map<string, Balance[]>
  /** Every request, as `METHOD /path?query` without the base URL. */
  readonly requests: string[]
  readonly streams: EventStream[]
  /** Headers of the last request. */
  lastHeaders: Headers | null
  /** Requests whose line starts with `METHOD /path` exactly (the query string is ignored unless given). */
  count(line: string): number
  /** Answer the next requests of a route with this status and error body instead. */
  fail(line: string, status: number, code: string): void
  reset(): void
}

const encoder = new TextEncoder()

export function createFakeApi(): { api: FakeApi; server: ReturnType<typeof setupServer> } {
  const failures = new Map<string, { status: number; code: string }>()
  const api: FakeApi = {
    connections: [],
    balances: new Map(),
    requests: [],
    streams: [],
    lastHeaders: null,
    count(line) {
      return api.requests.filter((request) => request === line || request.startsWith(`${line}?`)).length
    },
    fail(line, status, code) {
      failures.set(line, { status, code })
    },
    reset() {
      api.connections = []
      api.balances = new Map()
      api.requests.length = 0
      api.streams.length = 0
      api.lastHeaders = null
      failures.clear()
    },
  }

  const record = (request: Request): Response | undefined => {
    const url = new URL(request.url)
    const path = url.pathname.slice(new URL(BASE_URL).pathname.length)
    const line = `${request.method} ${path}${url.search ? decodeURIComponent(url.search) : ''}`
    api.requests.push(line)
    api.lastHeaders = request.headers
    const failure = failures.get(`${request.method} ${path}`)
    if (!failure) return undefined
    return HttpResponse.json(
      { error: { code: failure.code, message: `fake ${failure.code}` } },
      { status: failure.status },
    )
  }
  const find = (id: string) => api.connections.find((connection) => connection.id === id)
  const notFound = () =>
    HttpResponse.json({ error: { code: 'NOT_FOUND', message: 'No such connection.' } }, { status: 404 })

  const server = setupServer(
    http.get(
      `${BASE_URL}/exchanges`,
      ({ request }) => record(request) ?? HttpResponse.json({ exchanges: ['binance', 'okx'] }),
    ),
    http.get(
      `${BASE_URL}/connections`,
      ({ request }) => record(request) ?? HttpResponse.json({ connections: api.connections }),
    ),
    http.get(`${BASE_URL}/connections/:id`, ({ request, params }) => {
      const failed = record(request)
      if (failed) return failed
      const connection = find(String(params.id))
      if (!connection) return notFound()
      return HttpResponse.json({ connection, balances: api.balances.get(connection.id) ?? [] })
    }),
    http.get(`${BASE_URL}/holdings`, ({ request }) => {
      const failed = record(request)
      if (failed) return failed
      const param = new URL(request.url).searchParams.get('connectionIds')
      const selected = api.connections.filter(
        (connection) => param === null || param.split(',').includes(connection.id),
      )
      const body: HoldingsResponse = {
        // Not summed: the tests only look at which requests were made and at asset names.
        holdings: selected.flatMap((connection) => api.balances.get(connection.id) ?? []),
        asOf: selected.some((connection) => connection.lastSyncAt === null)
          ? null
          : Math.min(...selected.map((connection) => connection.lastSyncAt as number)),
        connectionIds: selected.map((connection) => connection.id),
      }
      return HttpResponse.json(body)
    }),
    http.post(`${BASE_URL}/connections`, async ({ request }) => {
      const failed = record(request)
      if (failed) return failed
      const input = (await request.json()) as { exchange: string; label?: string }
      const connection = connectionView(`c${api.connections.length + 1}`, {
        exchange: input.exchange,
        label: input.label ?? null,
      })
      api.connections.push(connection)
      return HttpResponse.json({ connection }, { status: 201 })
    }),
    http.put(`${BASE_URL}/connections/:id/credentials`, ({ request, params }) => {
      const failed = record(request)
      if (failed) return failed
      const connection = find(String(params.id))
      if (!connection) return notFound()
      Object.assign(connection, { status: 'active', failureCount: 0, lastError: null, nextSyncAt: null })
      return HttpResponse.json({ connection })
    }),
    http.delete(`${BASE_URL}/connections/:id`, ({ request, params }) => {
      const failed = record(request)
      if (failed) return failed
      if (!find(String(params.id))) return notFound()
      api.connections = api.connections.filter((connection) => connection.id !== params.id)
      return new HttpResponse(null, { status: 204 })
    }),
    http.post(`${BASE_URL}/connections/:id/sync`, ({ request, params }) => {
      const failed = record(request)
      if (failed) return failed
      const connection = find(String(params.id))
      if (!connection) return notFound()
      if (connection.status === 'error') {
        return HttpResponse.json({
          outcome: 'failure',
          connection,
          error: { code: 'AUTH_FAILED', message: 'Invalid API-key' },
        })
      }
      connection.lastSyncAt = Date.now()
      return HttpResponse.json({ outcome: 'success', connection, balances: api.balances.get(connection.id) ?? [] })
    }),
    http.get(`${BASE_URL}/events`, ({ request }) => {
      const failed = record(request)
      if (failed) return failed
      let controller!: ReadableStreamDefaultController<Uint8Array>
      let closed = false
      const close = () => {
        closed = true
      }
      request.signal.addEventListener('abort', close)
      const body = new ReadableStream<Uint8Array>({
        start(streamController) {
          controller = streamController
          streamController.enqueue(encoder.encode('retry: 3000\n: connected\n\n'))
        },
        cancel: close,
      })
      api.streams.push({
        request,
        get closed() {
          return closed
        },
        send(event) {
          controller.enqueue(encoder.encode(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`))
        },
        end() {
          close()
          controller.close()
        },
      })
      return new HttpResponse(body, { headers: { 'Content-Type': 'text/event-stream; charset=utf-8' } })
    }),
  )
  return { api, server }
}

/** A QueryClient per test: no shared cache, nothing kept between tests. */
export function testQueryClient(): QueryClient {
  return new QueryClient()
}

export function renderWithSyncfolio(
  ui: ReactNode,
  options: { queryClient?: QueryClient; provider?: Partial<SyncfolioProviderProps> } = {},
) {
  const queryClient = options.queryClient ?? testQueryClient()
  const providerProps = { baseUrl: BASE_URL, ...options.provider } as SyncfolioProviderProps
  const wrap = (children: ReactNode, props: SyncfolioProviderProps = providerProps) => (
    <QueryClientProvider client={queryClient}>
      <SyncfolioProvider {...props}>{children}</SyncfolioProvider>
    </QueryClientProvider>
  )
  const result = render(wrap(ui))
  return {
    ...result,
    queryClient,
    /** Re-renders with other provider props (the same tree below). */
    rerenderProvider: (props: Partial<SyncfolioProviderProps>) =>
      result.rerender(wrap(ui, { baseUrl: BASE_URL, ...props } as SyncfolioProviderProps)),
  }
}

/**
 * Shows or hides the tab as a browser does: `document.visibilityState` changes, then `visibilitychange` fires
 * (TanStack Query listens to it on window; the event bubbles there from document).
 */
export function setVisibility(state: DocumentVisibilityState): void {
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => state })
  Object.defineProperty(document, 'hidden', { configurable: true, get: () => state === 'hidden' })
  document.dispatchEvent(new Event('visibilitychange', { bubbles: true }))
}

/** Drops the overrides of `setVisibility`, back to jsdom's own (visible). */
export function resetVisibility(): void {
  Reflect.deleteProperty(document, 'visibilityState')
  Reflect.deleteProperty(document, 'hidden')
}
