// @vitest-environment jsdom
import type { SyncEvent } from '@syncfolio/core/client'
import { act, cleanup, screen, waitFor } from '@testing-library/react'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { StalenessBadge } from '../StalenessBadge.js'
import { useConnection } from '../useConnection.js'
import { useConnections } from '../useConnections.js'
import { useHoldings } from '../useHoldings.js'
import { type LiveUpdatesOptions, useLiveUpdates } from '../useLiveUpdates.js'
import { connectionView, createFakeApi, renderWithSyncfolio, resetVisibility, setVisibility } from './fakeApi.js'

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
  api.balances.set('c2', [{ asset: 'ETH', free: '2', used: '0', total: '2' }])
})
afterEach(() => {
  cleanup()
  resetVisibility()
  vi.restoreAllMocks()
  vi.useRealTimers()
})

const advance = (ms: number) => act(() => vi.advanceTimersByTimeAsync(ms))

function success(connectionId: string): SyncEvent {
  const now = Date.now()
  return {
    type: 'sync:success',
    connectionId,
    exchange: 'binance',
    trigger: 'sweep',
    startedAt: now - 200,
    finishedAt: now,
    nextSyncAt: now + 60_000,
  }
}

function Dashboard(props: { live?: LiveUpdatesOptions }) {
  useLiveUpdates(props.live)
  const connections = useConnections()
  const main = useConnection('c1')
  const all = useHoldings()
  const savingsOnly = useHoldings({ connectionIds: ['c2'] })
  if (!connections.data || !main.data || !all.data || !savingsOnly.data) return <p>loading</p>
  return (
    <div>
      <p>{connections.data.map((connection) => `${connection.label}:${connection.failureCount}`).join(' ')}</p>
      <p>all: {all.data.holdings.map((holding) => holding.asset).join(',')}</p>
      <p>savings: {savingsOnly.data.holdings.map((holding) => holding.asset).join(',')}</p>
      <StalenessBadge syncedAt={main.data.connection.lastSyncAt} status={main.data.connection.status} />
    </div>
  )
}

async function renderDashboard(live?: LiveUpdatesOptions) {
  const view = renderWithSyncfolio(<Dashboard {...(live && { live })} />)
  await screen.findByText('all: BTC,ETH')
  await waitFor(() => expect(api.streams).toHaveLength(1))
  return view
}

/** Requests per route since `before`. */
function since(before: string[]) {
  const counts: Record<string, number> = {}
  for (const line of api.requests.slice(before.length)) counts[line] = (counts[line] ?? 0) + 1
  return counts
}

describe('useLiveUpdates', () => {
  it('refetches what a sync:success changed at once, without waiting for the poll', async () => {
    await renderDashboard()
    const before = [...api.requests]
    const startedAt = Date.now()

    api.balances.set('c1', [{ asset: 'SOL', free: '3', used: '0', total: '3' }])
    api.streams[0]!.send(success('c1'))

    await screen.findByText('all: SOL,ETH')
    // The poll is a minute away; the fake clock moved only with real time.
    expect(Date.now() - startedAt).toBeLessThan(60_000)
    // Only what the sync of c1 touched: the list, c1's detail, the unfiltered holdings; not holdings of c2 only.
    expect(since(before)).toEqual({
      'GET /connections': 1,
      'GET /connections/c1': 1,
      'GET /holdings': 1,
    })
    expect(screen.getByText('savings: ETH')).toBeTruthy()
  })

  it('refetches the list and the detail on sync:failure, but not the unchanged balances; nothing on sync:start', async () => {
    await renderDashboard()
    const before = [...api.requests]
    const now = Date.now()
    api.streams[0]!.send({
      type: 'sync:start',
      connectionId: 'c1',
      exchange: 'binance',
      trigger: 'sweep',
      startedAt: now,
    })
    api.connections[0]!.failureCount = 1
    api.streams[0]!.send({
      type: 'sync:failure',
      connectionId: 'c1',
      exchange: 'binance',
      trigger: 'sweep',
      startedAt: now,
      finishedAt: now + 100,
      nextSyncAt: now + 120_000,
      disabled: false,
      error: { code: 'NETWORK', message: 'socket hang up' },
    })
    await screen.findByText('Main:1 Savings:0')
    await waitFor(() => expect(since(before)).toEqual({ 'GET /connections': 1, 'GET /connections/c1': 1 }))
  })

  it('shows "Reconnect needed" as soon as the connection is disabled', async () => {
    await renderDashboard()
    expect(screen.getByRole('status').textContent).toBe('Up to date')
    api.connections[0]!.status = 'error'
    api.streams[0]!.send({
      type: 'connection:disabled',
      connectionId: 'c1',
      exchange: 'binance',
      error: { code: 'AUTH_FAILED', message: 'Invalid API-key' },
    })
    await waitFor(() => expect(screen.getByRole('status').textContent).toBe('Reconnect needed'))
  })

  it('refetches each query once for a burst of events', async () => {
    await renderDashboard()
    const before = [...api.requests]
    api.streams[0]!.send(success('c1'))
    api.streams[0]!.send(success('c2'))
    await waitFor(() =>
      expect(since(before)).toEqual({
        'GET /connections': 1,
        'GET /connections/c1': 1,
        'GET /holdings': 1,
        'GET /holdings?connectionIds=c2': 1,
      }),
    )
  })

  it('passes every event to onEvent', async () => {
    const seen: string[] = []
    await renderDashboard({ onEvent: (event) => seen.push(`${event.type} ${event.connectionId}`) })
    api.streams[0]!.send(success('c2'))
    await waitFor(() => expect(seen).toEqual(['sync:success c2']))
  })

  it('reconnects after the stream ends, and the new stream refreshes too', async () => {
    await renderDashboard()
    api.streams[0]!.end()
    // The first reconnect comes within reconnectDelayMs (1 s by default, jittered down to half).
    await advance(1_000)
    await waitFor(() => expect(api.streams).toHaveLength(2))

    api.balances.set('c2', [{ asset: 'ADA', free: '9', used: '0', total: '9' }])
    api.streams[1]!.send(success('c2'))
    await screen.findByText('savings: ADA')
  })

  it('backs off exponentially while the stream cannot be opened', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(1) // no jitter: waits of exactly 10 s, 20 s, 40 s
    api.fail('GET /events', 503, 'INTERNAL')
    renderWithSyncfolio(<Dashboard live={{ reconnectDelayMs: 10_000, maxReconnectDelayMs: 40_000 }} />)
    await screen.findByText('all: BTC,ETH')
    await waitFor(() => expect(api.count('GET /events')).toBe(1))
    // Checked half-way between attempts: real time also moves the fake clock, so exact instants could flake.
    await advance(5_000)
    expect(api.count('GET /events')).toBe(1)
    await advance(10_000) // 15 s
    await waitFor(() => expect(api.count('GET /events')).toBe(2))
    await advance(10_000) // 25 s: the next is at 30 s
    expect(api.count('GET /events')).toBe(2)
    await advance(10_000) // 35 s
    await waitFor(() => expect(api.count('GET /events')).toBe(3))
    await advance(30_000) // 65 s: the next is at 70 s
    expect(api.count('GET /events')).toBe(3)
    await advance(10_000) // 75 s
    await waitFor(() => expect(api.count('GET /events')).toBe(4))
    // Capped at maxReconnectDelayMs: 110 s, not 150 s.
    await advance(40_000) // 115 s
    await waitFor(() => expect(api.count('GET /events')).toBe(5))
  })

  it('closes the stream while the tab is hidden and opens a new one when it is shown', async () => {
    await renderDashboard()
    act(() => setVisibility('hidden'))
    await waitFor(() => expect(api.streams[0]!.closed).toBe(true))
    await advance(5_000)
    expect(api.streams).toHaveLength(1)

    act(() => setVisibility('visible'))
    await waitFor(() => expect(api.streams).toHaveLength(2))
    expect(api.streams[1]!.closed).toBe(false)
  })

  it('keeps the stream open while hidden with pauseWhenHidden: false', async () => {
    await renderDashboard({ pauseWhenHidden: false })
    act(() => setVisibility('hidden'))
    await advance(5_000)
    expect(api.streams).toHaveLength(1)
    expect(api.streams[0]!.closed).toBe(false)
  })

  it('refuses reconnect delays that would retry in a tight loop', () => {
    vi.spyOn(console, 'error').mockImplementation(() => undefined)
    expect(() => renderWithSyncfolio(<Dashboard live={{ reconnectDelayMs: 0 }} />)).toThrow(/reconnectDelayMs/)
    expect(() =>
      renderWithSyncfolio(<Dashboard live={{ reconnectDelayMs: 5_000, maxReconnectDelayMs: 1_000 }} />),
    ).toThrow(/received 5000 and 1000/)
  })

  it('closes the stream on unmount, and opens none when disabled', async () => {
    const view = await renderDashboard()
    view.unmount()
    await waitFor(() => expect(api.streams[0]!.closed).toBe(true))

    renderWithSyncfolio(<Dashboard live={{ enabled: false }} />)
    await screen.findByText('all: BTC,ETH')
    await advance(5_000)
    expect(api.streams).toHaveLength(1)
  })
})
