import { describe, expect, it } from 'vitest'
import { describeSyncEvent } from '../ui/format/describeSyncEvent.js'

const base = { connectionId: 'c1', exchange: 'binance', startedAt: 1_000, finishedAt: 1_031 }

describe('describeSyncEvent', () => {
  it('says which worker ran the sync when the event names one', () => {
    const success = { type: 'sync:success', ...base, trigger: 'sweep', nextSyncAt: 61_000, worker: 'worker-2' } as const
    expect(describeSyncEvent(success)).toBe('Synced in 31 ms · on worker-2')
    const failure = {
      type: 'sync:failure',
      ...base,
      trigger: 'manual',
      nextSyncAt: 61_000,
      disabled: false,
      error: { code: 'TIMEOUT', message: 'slow' },
      worker: 'host-b:4312',
    } as const
    expect(describeSyncEvent(failure)).toBe('Failed (manual): the exchange did not answer in time · on host-b:4312')
  })

  it('names no worker for an event of a single process', () => {
    const success = { type: 'sync:success', ...base, trigger: 'manual', nextSyncAt: 61_000 } as const
    expect(describeSyncEvent(success)).toBe('Synced (manual) in 31 ms')
    const disabled = {
      type: 'connection:disabled',
      connectionId: 'c1',
      exchange: 'okx',
      error: { code: 'AUTH_FAILED', message: 'no' },
    } as const
    expect(describeSyncEvent(disabled)).toBe('Needs new keys: the exchange refused the API key')
  })
})
