import { describe, expect, it } from 'vitest'
import { ACCOUNT_ID_RETRY_MS, AccountIds } from '../accountIds.js'

describe('AccountIds', () => {
  it('asks once per key, waits retryMs after a failure, and forgets the least recently used key past maxEntries', () => {
    const ids = new AccountIds({ maxEntries: 2 })
    expect(ids.due('a', 0)).toBe(true)
    ids.learned('a', '1')
    expect([ids.due('a', 0), ids.idOf('a')]).toEqual([false, '1'])

    ids.failed('b', 1_000)
    expect([ids.due('b', 1_000 + ACCOUNT_ID_RETRY_MS - 1), ids.idOf('b')]).toEqual([false, undefined])
    expect(ids.due('b', 1_000 + ACCOUNT_ID_RETRY_MS)).toBe(true)

    // 'a' was read after 'b' was added, so 'b' is the least recently used one when 'c' comes.
    ids.idOf('a')
    ids.learned('c', '3')
    expect(ids.size).toBe(2)
    expect([ids.idOf('a'), ids.idOf('c'), ids.due('b', 1_000)]).toEqual(['1', '3', true])
  })
})
