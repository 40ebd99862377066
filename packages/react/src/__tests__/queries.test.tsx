// @vitest-environment jsdom
import { createSyncClient, isSyncApiError } from '@syncfolio/core/client'
import { QueryClientProvider } from '@tanstack/react-query'
import { act, cleanup, render, screen, waitFor } from '@testing-library/react'
import { useState } from 'react'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { syncfolioKeys } from '../syncfolioKeys.js'
import { useConnection } from '../useConnection.js'
import { useConnections } from '../useConnections.js'
import { useExchanges } from '../useExchanges.js'
import { useHoldings } from '../useHoldings.js'
import { useLiveUpdates } from '../useLiveUpdates.js'
import {
  BASE_URL,
  connectionView,
  createFakeApi,
  renderWithSyncfolio,
  resetVisibility,
  setVisibility,
  testQueryClient,
} from './fakeApi.js'

const { api, server } = createFakeApi()

beforeAll(() => server.listen({ onUnhandledRequest: 'error' }))
afterAll(() => server.close())
beforeEach(() => {
  vi.useFakeTimers({ shouldAdvanceTime: true })
  api.reset()
  api.connections = [
    connectionView('c1', { label: 'Main', lastSyncAt: Date.now() }),
    connectionView('c2', { label: 'Savings', exchange: 'okx', lastSyncAt: Date.now() }),
  ]
  api.balances.set('c1', [{ asset: 'BTC', free: '1', used: '0', total: '1' }])
})
afterEach(() => {
  cleanup()
  resetVisibility()
  vi.restoreAllMocks()
  vi.useRealTimers()
})

const advance = (ms: number) => act(() => vi.advanceTimersByTimeAsync(ms))

function Detail(props: { id: string | null }) {
  const { data, error, fetchStatus } = useConnection(props.id)
  if (error) return <p>error: {isSyncApiError(error) ? error.code : error.message}</p>
  if (!data) return <p>no data, {fetchStatus}</p>
  return <p>detail: {`${data.connection.label} ${data.balances.map((balance) => balance.asset).join(',')}`}</p>
}

function PickDetail() {
  const [id, setId] = useState<string | null>(null)
  return (
    <div>
      <button type="button" onClick={() => setId('c1')}>
        pick
      </button>
      <Detail id={id} />
    </div>
  )
}

function Holdings(props: { ids: string[] }) {
  const { data } = useHoldings({ connectionIds: props.ids })
  return <p>{data ? `holdings of ${data.connectionIds.join('+')}` : 'loading'}</p>
}

function Count() {
  const { data } = useConnections({ query: { select: (connections) => connections.length } })
  return <p>{data === undefined ? 'loading' : `${data} connections`}</p>
}

function Exchanges() {
  const { data } = useExchanges()
  return <p>{data ? data.join(' ') : 'loading'}</p>
}

function Live() {
  useLiveUpdates()
  return <Count />
}

describe('query hooks', () => {
  it('useConnection waits for an id, then fetches the detail with its balances', async () => {
    renderWithSyncfolio(<PickDetail />)
    await advance(1_000)
    expect(screen.getByText('no data, idle')).toBeTruthy()
    expect(api.count('GET /connections/c1')).toBe(0)

    act(() => screen.getByText('pick').click())
    await screen.findByText('detail: Main BTC')
  })

  it('useConnection does not retry a NOT_FOUND', async () => {
    renderWithSyncfolio(<Detail id="gone" />)
    await screen.findByText('error: NOT_FOUND')
    await advance(10_000)
    expect(api.count('GET /connections/gone')).toBe(1)
  })

  it('retries a server error, then shows the data', async () => {
    api.fail('GET /connections/c1', 500, 'INTERNAL')
    renderWithSyncfolio(<Detail id="c1" />)
    await waitFor(() => expect(api.count('GET /connections/c1')).toBe(1))
    api.reset()
    api.connections = [connectionView('c1', { label: 'Main' })]
    // TanStack's first retry comes after 1 s.
    await advance(1_500)
    await screen.findByText('detail: Main')
    expect(api.count('GET /connections/c1')).toBe(1)
  })

  it('useHoldings sends the selection sorted, and shares the cache entry whatever the order', async () => {
    const queryClient = testQueryClient()
    renderWithSyncfolio(
      <>
        <Holdings ids={['c2', 'c1', 'c2']} />
        <Holdings ids={['c1', 'c2']} />
      </>,
      { queryClient },
    )
    await waitFor(() => expect(screen.getAllByText('holdings of c1+c2')).toHaveLength(2))
    expect(api.requests.filter((line) => line.startsWith('GET /holdings'))).toEqual([
      'GET /holdings?connectionIds=c1,c2',
    ])
    expect(queryClient.getQueryData(syncfolioKeys.holdings(['c2', 'c1']))).toMatchObject({
      connectionIds: ['c1', 'c2'],
    })
  })

  it('passes `select` and other TanStack options through', async () => {
    renderWithSyncfolio(<Count />)
    await screen.findByText('2 connections')
  })

  it('useExchanges fetches once and does not poll', async () => {
    renderWithSyncfolio(<Exchanges />)
    await screen.findByText('binance okx')
    await advance(5 * 60_000)
    act(() => setVisibility('hidden'))
    act(() => setVisibility('visible'))
    await advance(1_000)
    expect(api.count('GET /exchanges')).toBe(1)
  })

  it('throws a clear error outside <SyncfolioProvider>', () => {
    vi.spyOn(console, 'error').mockImplementation(() => undefined)
    expect(() =>
      render(
        <QueryClientProvider client={testQueryClient()}>
          <Count />
        </QueryClientProvider>,
      ),
    ).toThrow(/<SyncfolioProvider>/)
  })
})

describe('SyncfolioProvider', () => {
  it('sends the latest headers without making a new client, so the live stream stays open', async () => {
    const view = renderWithSyncfolio(<Live />, { provider: { headers: { Authorization: 'Bearer one' } } })
    await screen.findByText('2 connections')
    await waitFor(() => expect(api.streams).toHaveLength(1))
    expect(api.streams[0]!.request.headers.get('authorization')).toBe('Bearer one')

    // An inline object is a new value on every render of the app.
    view.rerenderProvider({ headers: { Authorization: 'Bearer two' } })
    act(() => setVisibility('hidden'))
    act(() => setVisibility('visible'))
    await waitFor(() => expect(api.count('GET /connections')).toBe(2))
    expect(api.lastHeaders?.get('authorization')).toBe('Bearer two')
    // The stream reconnected only because the tab was hidden (pauseWhenHidden), not because of the new headers.
    expect(api.streams).toHaveLength(2)
    expect(api.streams[1]!.request.headers.get('authorization')).toBe('Bearer two')
  })

  it('keeps the stream when the provider re-renders with new headers', async () => {
    const view = renderWithSyncfolio(<Live />, { provider: { headers: () => ({ 'X-Tab': 'a' }) } })
    await waitFor(() => expect(api.streams).toHaveLength(1))
    view.rerenderProvider({ headers: () => ({ 'X-Tab': 'b' }) })
    view.rerenderProvider({ headers: () => ({ 'X-Tab': 'c' }) })
    await advance(5_000)
    expect(api.streams).toHaveLength(1)
    expect(api.streams[0]!.closed).toBe(false)
  })

  it('uses a custom fetch, and a client passed as it is', async () => {
    const fetchSpy = vi.fn((input: string, init: RequestInit) => globalThis.fetch(input, init))
    renderWithSyncfolio(<Count />, { provider: { fetch: fetchSpy } })
    await screen.findByText('2 connections')
    expect(fetchSpy).toHaveBeenCalledWith(`${BASE_URL}/connections`, expect.objectContaining({ method: 'GET' }))
    cleanup()

    const client = createSyncClient({ baseUrl: BASE_URL, headers: { 'X-Client': 'own' } })
    renderWithSyncfolio(<Count />, { provider: { client, baseUrl: undefined } })
    await screen.findByText('2 connections')
    expect(api.lastHeaders?.get('x-client')).toBe('own')
  })
})

describe('syncfolioKeys', () => {
  it('are stable, public query keys', () => {
    expect(syncfolioKeys.all).toEqual(['syncfolio'])
    expect(syncfolioKeys.connections()).toEqual(['syncfolio', 'connections'])
    expect(syncfolioKeys.connection('c1')).toEqual(['syncfolio', 'connection', 'c1'])
    expect(syncfolioKeys.connectionDetails()).toEqual(['syncfolio', 'connection'])
    expect(syncfolioKeys.allHoldings()).toEqual(['syncfolio', 'holdings'])
    expect(syncfolioKeys.holdings()).toEqual(['syncfolio', 'holdings', { connectionIds: null }])
    expect(syncfolioKeys.holdings(['b', 'a', 'b'])).toEqual(['syncfolio', 'holdings', { connectionIds: ['a', 'b'] }])
    expect(syncfolioKeys.holdings([])).toEqual(['syncfolio', 'holdings', { connectionIds: [] }])
    expect(syncfolioKeys.exchanges()).toEqual(['syncfolio', 'exchanges'])
    expect(syncfolioKeys.mutations.syncNow()).toEqual(['syncfolio', 'syncNow'])
  })
})
