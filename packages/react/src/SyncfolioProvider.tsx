import { createSyncClient, type FetchLike, type HeadersOption, type SyncClient } from '@syncfolio/core/client'
import { type ReactNode, useInsertionEffect, useMemo, useRef } from 'react'
import { SyncfolioContext, type SyncfolioContextValue } from './syncfolioContext.js'

interface ClientFromUrl {
  /**
   * Where the syncfolio HTTP handler is mounted: a path on the page's origin (`/api/syncfolio`) or an absolute URL.
   * A new value makes a new client (and reconnects `useLiveUpdates`).
   */
  baseUrl: string
  /**
   * The fetch the client calls, e.g. one that adds retries. The latest value is used by every request, so an
   * inline function does not rebuild the client.
   * @default globalThis.fetch, looked up on each request
   */
  fetch?: FetchLike
  /**
   * Headers for every request, or a (sync or async) function returning them, e.g. a bearer token. The latest value
   * is used by every request. Cookies need nothing: same-origin requests carry them.
   * @default none
   */
  headers?: HeadersOption
  client?: never
}

interface ClientGiven {
  /** A client made with `createSyncClient`, e.g. one shared with code outside React. */
  client: SyncClient
  baseUrl?: never
  fetch?: never
  headers?: never
}

export type SyncfolioProviderProps = (ClientFromUrl | ClientGiven) & { children?: ReactNode }

/**
 * Gives the syncfolio hooks their API client. Place it inside your `<QueryClientProvider>`: the hooks keep their
 * data in your QueryClient, under `syncfolioKeys`.
 *
 * ```tsx
 * <QueryClientProvider client={queryClient}>
 *   <SyncfolioProvider baseUrl="/api/syncfolio">
 *     <App />
 *   </SyncfolioProvider>
 * </QueryClientProvider>
 * ```
 */
export function SyncfolioProvider(props: SyncfolioProviderProps) {
  const { children } = props
  // `fetch` and `headers` are read through a ref so an inline value (`headers={{ Authorization }}`) does not make a
  // new client on every render: a new client would reconnect the live event stream each time.
  const latest = useRef({ fetch: props.fetch, headers: props.headers })
  useInsertionEffect(() => {
    // Insertion effects run before any layout or passive effect of the tree, so a child's effect that fetches
    // already sees the new values.
    latest.current = { fetch: props.fetch, headers: props.headers }
  })

  const given = props.client
  const baseUrl = props.baseUrl
  const client = useMemo(() => {
    if (given) return given
    if (baseUrl === undefined) throw new TypeError('<SyncfolioProvider> needs a baseUrl or a client.')
    return createSyncClient({
      baseUrl,
      fetch: (input, init) => (latest.current.fetch ?? globalThis.fetch)(input, init),
      headers: () => {
        const headers = latest.current.headers
        return (typeof headers === 'function' ? headers() : headers) ?? {}
      },
    })
  }, [given, baseUrl])

  const value = useMemo<SyncfolioContextValue>(() => ({ client }), [client])
  return <SyncfolioContext.Provider value={value}>{children}</SyncfolioContext.Provider>
}
