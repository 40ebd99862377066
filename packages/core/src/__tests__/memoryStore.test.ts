import { describeSyncStoreConformance } from '@syncfolio/testing/conformance'
import { describe, expect, it } from 'vitest'
import { MemoryStore } from '../store/memoryStore.js'

describeSyncStoreConformance('MemoryStore', () => new MemoryStore())

describe('MemoryStore', () => {
  it('names the method, the field and the value of a non-finite time', async () => {
    const store = new MemoryStore()
    const { id } = await store.add({ userId: 'u', exchange: 'binance', credentials: { apiKey: 'k', secret: 's' } })
    await expect(
      store.recordSuccess(id, { balances: [], startedAt: 1, finishedAt: 2, nextSyncAt: Number.NaN }),
    ).rejects.toThrow('MemoryStore.recordSuccess: "nextSyncAt" must be a finite number of epoch ms; received NaN')
    await expect(
      store.recordFailure(id, {
        error: { code: 'NETWORK', message: 'x' },
        startedAt: Number.POSITIVE_INFINITY,
        finishedAt: 2,
        nextSyncAt: 3,
        disable: false,
      }),
    ).rejects.toThrow(RangeError)
    expect(await store.get(id)).toMatchObject({ lastAttemptAt: null, failureCount: 0 })
  })
})
