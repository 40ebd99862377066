// @vitest-environment jsdom
import { isSyncApiError } from '@syncfolio/core/client'
import { act, cleanup, screen, waitFor } from '@testing-library/react'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { syncfolioKeys } from '../syncfolioKeys.js'
import { useAddConnection } from '../useAddConnection.js'
import { useConnection } from '../useConnection.js'
import { useConnections } from '../useConnections.js'
import { useHoldings } from '../useHoldings.js'
import { useRemoveConnection } from '../useRemoveConnection.js'
import { useSyncNow } from '../useSyncNow.js'
import { useUpdateCredentials } from '../useUpdateCredentials.js'
import { connectionView, createFakeApi, renderWithSyncfolio } from './fakeApi.js'

const { api, server } = createFakeApi()
const KEYS = { apiKey: 'AK-react-1a2b3c', secret: 'SK-react-3c2b1a' }

beforeAll(() => server.listen({ onUnhandledRequest: 'error' }))
afterAll(() => server.close())
beforeEach(() => {
  vi.useFakeTimers({ shouldAdvanceTime: true })
  api.reset()
  api.connections = [
    connectionView('c1', { label: 'Main', lastSyncAt: Date.now() - 120_000 }),
    connectionView('c2', { label: 'Savings', exchange: 'okx', lastSyncAt: Date.now() - 120_000 }),
  ]
  api.balances.set('c1', [{ asset: 'BTC', free: '1', used: '0', total: '1' }])
  api.balances.set('c2', [{ asset: 'ETH', free: '2', used: '0', total: '2' }])
})
afterEach(() => {
  cleanup()
  vi.useRealTimers()
})

/** Every kind of query on screen at once, so a test can see which ones a mutation refetched. */
function useScreenQueries() {
  const connections = useConnections()
  const main = useConnection('c1')
  const savings = useConnection('c2')
  const all = useHoldings()
  const savingsOnly = useHoldings({ connectionIds: ['c2'] })
  const ready = [connections, main, savings, all, savingsOnly].every((query) => query.isSuccess)
  return { ready, connections: connections.data ?? [], all: all.data }
}

let mutations: {
  syncNow: ReturnType<typeof useSyncNow>
  add: ReturnType<typeof useAddConnection>
  update: ReturnType<typeof useUpdateCredentials>
  remove: ReturnType<typeof useRemoveConnection>
}

const onSuccess = vi.fn()

function Screen() {
  const { ready, connections, all } = useScreenQueries()
  mutations = {
    syncNow: useSyncNow({ mutation: { onSuccess } }),
    add: useAddConnection({ mutation: { onSuccess } }),
    update: useUpdateCredentials(),
    remove: useRemoveConnection(),
  }
  return (
    <div>
      <p>{ready ? 'ready' : 'loading'}</p>
      <p>{connections.map((connection) => `${connection.id}:${connection.status}`).join(' ')}</p>
      <p>asOf: {all?.asOf ?? 'none'}</p>
    </div>
  )
}

async function renderScreen(shown = 'c1:active c2:active') {
  const view = renderWithSyncfolio(<Screen />)
  await screen.findByText(shown)
  await screen.findByText('ready')
  onSuccess.mockClear()
  return { ...view, before: [...api.requests] }
}

/** Requests per route since `before`. */
function since(before: string[]) {
  const counts: Record<string, number> = {}
  for (const line of api.requests.slice(before.length)) counts[line] = (counts[line] ?? 0) + 1
  return counts
}

describe('mutations invalidate what they change', () => {
  it('useSyncNow refetches the list, the detail and the holdings that include the connection', async () => {
    const { before, queryClient } = await renderScreen()
    let response: Awaited<ReturnType<typeof mutations.syncNow.mutateAsync>> | undefined
    let cachedAtResolve: unknown
    await act(async () => {
      response = await mutations.syncNow.mutateAsync('c1')
      cachedAtResolve = queryClient.getQueryData(syncfolioKeys.connection('c1'))
    })
    expect(response?.outcome).toBe('success')
    // The mutation resolves after the refetch, so the cache already holds the new sync time when it does.
    expect(cachedAtResolve).toMatchObject({ connection: { lastSyncAt: api.connections[0]!.lastSyncAt } })
    await screen.findByText(`asOf: ${api.connections[1]!.lastSyncAt}`)
    expect(since(before)).toEqual({
      'POST /connections/c1/sync': 1,
      'GET /connections': 1,
      'GET /connections/c1': 1,
      'GET /holdings': 1,
    })
    expect(onSuccess).toHaveBeenCalledTimes(1)
    expect(onSuccess.mock.calls[0]?.slice(0, 2)).toEqual([response, 'c1'])
  })

  it('useSyncNow leaves the holdings alone when the sync failed', async () => {
    api.connections[0]!.status = 'error'
    const { before } = await renderScreen('c1:error c2:active')
    await act(async () => {
      await mutations.syncNow.mutateAsync('c1')
    })
    expect(since(before)).toEqual({
      'POST /connections/c1/sync': 1,
      'GET /connections': 1,
      'GET /connections/c1': 1,
    })
  })

  it('useSyncNow surfaces a throttled request as a SyncApiError and invalidates nothing', async () => {
    api.fail('POST /connections/c1/sync', 429, 'SYNC_THROTTLED')
    const { before } = await renderScreen()
    act(() => mutations.syncNow.mutate('c1'))
    await waitFor(() => expect(mutations.syncNow.isError).toBe(true))
    const error = mutations.syncNow.error
    expect(isSyncApiError(error) && error.code).toBe('SYNC_THROTTLED')
    expect(since(before)).toEqual({ 'POST /connections/c1/sync': 1 })
    expect(onSuccess).not.toHaveBeenCalled()
  })

  it('useAddConnection refetches the list and the unfiltered holdings', async () => {
    const { before } = await renderScreen()
    await act(async () => {
      await mutations.add.mutateAsync({ exchange: 'okx', label: 'New', credentials: { ...KEYS, password: 'pp' } })
    })
    await screen.findByText('c1:active c2:active c3:active')
    expect(since(before)).toEqual({ 'POST /connections': 1, 'GET /connections': 1, 'GET /holdings': 1 })
    expect(onSuccess.mock.calls[0]?.[0]).toMatchObject({ id: 'c3', exchange: 'okx', label: 'New' })
  })

  it('useAddConnection stores and refetches nothing when the keys are rejected', async () => {
    api.fail('POST /connections', 422, 'CREDENTIALS_REJECTED')
    const { before } = await renderScreen()
    await act(async () => {
      await mutations.add.mutateAsync({ exchange: 'binance', credentials: KEYS }).catch(() => undefined)
    })
    await waitFor(() => expect(mutations.add.isError).toBe(true))
    expect(isSyncApiError(mutations.add.error) && mutations.add.error.code).toBe('CREDENTIALS_REJECTED')
    expect(since(before)).toEqual({ 'POST /connections': 1 })
  })

  it('useUpdateCredentials refetches the list and the detail, not the unchanged balances', async () => {
    api.connections[0]!.status = 'error'
    const { before } = await renderScreen('c1:error c2:active')
    await act(async () => {
      await mutations.update.mutateAsync({ connectionId: 'c1', credentials: KEYS })
    })
    await screen.findByText('c1:active c2:active')
    expect(since(before)).toEqual({
      'PUT /connections/c1/credentials': 1,
      'GET /connections': 1,
      'GET /connections/c1': 1,
    })
  })

  it('useRemoveConnection drops the detail from the cache and refetches the list and the holdings that had it', async () => {
    const { before, queryClient } = await renderScreen()
    await act(async () => {
      await mutations.remove.mutateAsync('c2')
    })
    await screen.findByText('c1:active')
    expect(queryClient.getQueryData(syncfolioKeys.connection('c2'))).toBeUndefined()
    await waitFor(() =>
      expect(since(before)).toEqual({
        'DELETE /connections/c2': 1,
        'GET /connections': 1,
        'GET /holdings': 1,
        'GET /holdings?connectionIds=c2': 1,
        // A detail of the removed connection still on screen asks once and gets NOT_FOUND (not retried), rather
        // than showing a deleted connection as if it were there.
        'GET /connections/c2': 1,
      }),
    )
  })

  it('uses mutation keys an app can watch with useIsMutating', async () => {
    const { queryClient } = await renderScreen()
    let watched = -1
    await act(async () => {
      const pending = mutations.syncNow.mutateAsync('c2')
      watched = queryClient.isMutating({ mutationKey: syncfolioKeys.mutations.syncNow() })
      await pending
    })
    expect(watched).toBe(1)
  })
})
