// @vitest-environment jsdom
import { act, cleanup, screen, waitFor } from '@testing-library/react'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { useConnections } from '../useConnections.js'
import { useHoldings } from '../useHoldings.js'
import { connectionView, createFakeApi, renderWithSyncfolio, resetVisibility, setVisibility } from './fakeApi.js'

const { api, server } = createFakeApi()

beforeAll(() => server.listen({ onUnhandledRequest: 'error' }))
afterAll(() => server.close())
beforeEach(() => {
  // shouldAdvanceTime: fake time also moves with real time, so msw's responses and RTL's waitFor keep working.
  vi.useFakeTimers({ shouldAdvanceTime: true })
  api.reset()
  api.connections = [connectionView('c1', { label: 'Main' })]
})
afterEach(() => {
  cleanup()
  resetVisibility()
  vi.useRealTimers()
})

function Labels(props: { refetchOnWindowFocus?: boolean }) {
  const query = props.refetchOnWindowFocus === undefined ? {} : { refetchOnWindowFocus: props.refetchOnWindowFocus }
  const { data } = useConnections({ query })
  return (
    <ul>
      {data?.map((connection) => (
        <li key={connection.id}>{connection.label}</li>
      ))}
    </ul>
  )
}

function Assets() {
  const { data } = useHoldings()
  return <p>{data ? `${data.holdings.length} assets` : 'loading'}</p>
}

const advance = (ms: number) => act(() => vi.advanceTimersByTimeAsync(ms))

describe('polling', () => {
  it('refetches every 60 seconds and shows what changed', async () => {
    renderWithSyncfolio(<Labels />)
    await screen.findByText('Main')
    expect(api.count('GET /connections')).toBe(1)

    api.connections[0]!.label = 'Renamed'
    // Margins of 10 s around the minute: real time also moves the fake clock, so a tighter check could flake.
    await advance(50_000)
    expect(api.count('GET /connections')).toBe(1)
    await advance(10_000)
    await screen.findByText('Renamed')
    expect(api.count('GET /connections')).toBe(2)

    await advance(50_000)
    expect(api.count('GET /connections')).toBe(2)
    await advance(10_000)
    await waitFor(() => expect(api.count('GET /connections')).toBe(3))
  })

  it('polls holdings on the same schedule', async () => {
    api.balances.set('c1', [{ asset: 'BTC', free: '1', used: '0', total: '1' }])
    renderWithSyncfolio(<Assets />)
    await screen.findByText('1 assets')
    await advance(50_000)
    expect(api.count('GET /holdings')).toBe(1)
    await advance(10_000)
    await waitFor(() => expect(api.count('GET /holdings')).toBe(2))
  })

  it('does not poll while the tab is hidden, and refetches as soon as it is shown', async () => {
    renderWithSyncfolio(<Labels />)
    await screen.findByText('Main')

    act(() => setVisibility('hidden'))
    await advance(5 * 60_000)
    expect(api.count('GET /connections')).toBe(1)

    api.connections[0]!.label = 'While away'
    act(() => setVisibility('visible'))
    await screen.findByText('While away')
    expect(api.count('GET /connections')).toBe(2)

    // Polling resumes.
    await advance(60_000)
    await waitFor(() => expect(api.count('GET /connections')).toBe(3))
  })

  it('refetches when the tab regains focus, without waiting for the next poll', async () => {
    renderWithSyncfolio(<Labels />)
    await screen.findByText('Main')
    api.connections[0]!.label = 'Changed elsewhere'

    act(() => setVisibility('hidden'))
    act(() => setVisibility('visible'))
    await screen.findByText('Changed elsewhere')
    expect(api.count('GET /connections')).toBe(2)
  })

  it('lets TanStack options under `query` override the defaults', async () => {
    renderWithSyncfolio(<Labels refetchOnWindowFocus={false} />)
    await screen.findByText('Main')
    act(() => setVisibility('hidden'))
    act(() => setVisibility('visible'))
    await advance(1_000)
    expect(api.count('GET /connections')).toBe(1)
  })
})
