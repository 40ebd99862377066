import type { Balance, Connection, Credentials, NewConnection, SyncStore } from '@syncfolio/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

export interface ConformanceOptions {
  /** Called after each test with the store it made, to close connections or drop tables. */
  teardown?: (store: SyncStore) => Promise<void> | void
  /**
   * A second store on the same database as `store`, as another process would open it. Enables the tests of two
   * instances writing concurrently and, with `close`, of persistence across close and reopen.
   */
  openAnother?: (store: SyncStore) => Promise<SyncStore> | SyncStore
  /**
   * Closes a store: the suite closes the first store and then reopens it with `openAnother`, and closes every other
   * store `openAnother` made.
   */
  close?: (store: SyncStore) => Promise<void> | void
  /**
   * Everything the store wrote, as text: every row of its tables (and, for a file, its bytes). Enables the test
   * that credentials never appear in storage, plain, base64 or hex.
   */
  rawContents?: (store: SyncStore) => Promise<string> | string
  /**
   * How many connections the paging test stores.
   * @default 100_000
   */
  pagingConnections?: number
}

const T0 = Date.UTC(2026, 0, 1)
const credentials = (n: number | string): Credentials => ({
  apiKey: `api-key-${n}-AAAAAAAA`,
  secret: `secret-${n}-BBBBBBBBBBBB`,
  password: `pass-${n}-CCCC`,
})
const balances: Balance[] = [
  { asset: 'BTC', free: '1.50000000', used: '0.25000000', total: '1.75000000' },
  { asset: 'USDT', free: '98765432.12345678', used: '0', total: '98765432.12345678' },
]

/**
 * The behaviour every SyncStore must have, as a vitest suite. Call it from a test file with a factory that
 * returns an empty store:
 *
 * ```ts
 * describeSyncStoreConformance('MyStore', async () => new MyStore(await freshDatabase()))
 * ```
 */
export function describeSyncStoreConformance(
  name: string,
  createStore: () => Promise<SyncStore> | SyncStore,
  options: ConformanceOptions = {},
): void {
  describe(`SyncStore conformance: ${name}`, () => {
    let store: SyncStore
    const add = (input: Partial<NewConnection> & { n?: number } = {}) =>
      store.add({
        userId: input.userId ?? 'user-1',
        exchange: input.exchange ?? 'binance',
        credentials: input.credentials ?? credentials(input.n ?? 1),
        ...(input.label !== undefined && { label: input.label }),
      })
    const success = (id: string, startedAt: number, nextSyncAt = startedAt + 60_000, list = balances) =>
      store.recordSuccess(id, { balances: list, startedAt, finishedAt: startedAt + 100, nextSyncAt })
    const failure = (id: string, startedAt: number, disable = false, nextSyncAt = startedAt + 60_000) =>
      store.recordFailure(id, {
        error: { code: disable ? 'AUTH_FAILED' : 'NETWORK', message: 'boom' },
        startedAt,
        finishedAt: startedAt + 100,
        nextSyncAt,
        disable,
      })
    const ids = (list: Connection[]) => list.map((connection) => connection.id)

    beforeEach(async () => {
      store = await createStore()
    })
    afterEach(async () => {
      await options.teardown?.(store)
    })

    it('adds an active connection, due now, that holds no credentials', async () => {
      const connection = await add({ label: 'Main account' })
      expect(connection).toMatchObject({
        userId: 'user-1',
        exchange: 'binance',
        label: 'Main account',
        status: 'active',
        lastSyncAt: null,
        lastAttemptAt: null,
        nextSyncAt: null,
        failureCount: 0,
        lastError: null,
      })
      expect(typeof connection.id).toBe('string')
      expect(await store.get(connection.id)).toEqual(connection)
      const everything = JSON.stringify([connection, await store.get(connection.id), await store.listByUser('user-1')])
      for (const secret of Object.values(credentials(1))) expect(everything).not.toContain(secret)
    })

    it('gives ids that differ', async () => {
      const [a, b] = await Promise.all([add(), add()])
      expect(a?.id).not.toBe(b?.id)
    })

    it('hands out credentials only through getCredentials, as copies', async () => {
      const connection = await add({ n: 7 })
      const creds = (await store.getCredentials(connection.id)) as Credentials
      expect(creds).toEqual(credentials(7))
      creds.apiKey = 'changed'
      expect((await store.getCredentials(connection.id))?.apiKey).toBe(credentials(7).apiKey)
      expect(await store.getCredentials('no-such-id')).toBeNull()
    })

    it('answers null or false for unknown ids', async () => {
      expect(await store.get('no-such-id')).toBeNull()
      expect(await store.getBalances('no-such-id')).toBeNull()
      expect(await success('no-such-id', T0)).toBe(false)
      expect(await failure('no-such-id', T0)).toBe(false)
      expect(await store.updateCredentials('no-such-id', credentials(1))).toBeNull()
      expect(await store.remove('no-such-id')).toBe(false)
    })

    it('records a success: balances, times, failures cleared', async () => {
      const connection = await add()
      await failure(connection.id, T0)
      expect(await success(connection.id, T0 + 1_000, T0 + 61_000)).toBe(true)
      expect(await store.get(connection.id)).toMatchObject({
        lastSyncAt: T0 + 1_000,
        lastAttemptAt: T0 + 1_000,
        nextSyncAt: T0 + 61_000,
        failureCount: 0,
        lastError: null,
        status: 'active',
      })
      expect(await store.getBalances(connection.id)).toEqual(balances)
    })

    it('keeps amounts exactly as given', async () => {
      const connection = await add()
      const exact = [{ asset: 'DUST', free: '0.000000000000000001', used: '0.00000000', total: '0.000000000000000001' }]
      await success(connection.id, T0, T0 + 1, exact)
      expect(await store.getBalances(connection.id)).toEqual(exact)
    })

    it('is forward-only: an older success never overwrites a newer one', async () => {
      const connection = await add()
      const newer = [{ asset: 'BTC', free: '2', used: '0', total: '2' }]
      expect(await success(connection.id, T0 + 5_000, T0 + 65_000, newer)).toBe(true)
      expect(await success(connection.id, T0 + 1_000, T0 + 61_000, balances)).toBe(false)
      expect(await store.getBalances(connection.id)).toEqual(newer)
      expect(await store.get(connection.id)).toMatchObject({ lastSyncAt: T0 + 5_000, nextSyncAt: T0 + 65_000 })
    })

    it('records a failure: count, error, next time', async () => {
      const connection = await add()
      await failure(connection.id, T0, false, T0 + 120_000)
      await failure(connection.id, T0 + 1_000, false, T0 + 240_000)
      expect(await store.get(connection.id)).toMatchObject({
        status: 'active',
        failureCount: 2,
        lastAttemptAt: T0 + 1_000,
        nextSyncAt: T0 + 240_000,
        lastError: { code: 'NETWORK', message: 'boom', at: T0 + 1_100 },
      })
    })

    it('drops a failure older than the last recorded attempt', async () => {
      const connection = await add()
      await success(connection.id, T0 + 5_000)
      expect(await failure(connection.id, T0 + 1_000, true)).toBe(false)
      expect(await store.get(connection.id)).toMatchObject({ status: 'active', failureCount: 0, lastError: null })
    })

    it('disables a connection on a permanent failure and reactivates it on new credentials', async () => {
      const connection = await add()
      await failure(connection.id, T0, true)
      expect((await store.get(connection.id))?.status).toBe('error')
      expect(ids(await store.listDue(T0 + 10_000_000, 10))).not.toContain(connection.id)
      const updated = await store.updateCredentials(connection.id, credentials('new'))
      expect(updated).toMatchObject({ status: 'active', failureCount: 0, lastError: null, nextSyncAt: null })
      expect(await store.getCredentials(connection.id)).toEqual(credentials('new'))
      expect(ids(await store.listDue(T0, 10))).toContain(connection.id)
    })

    it('lists only active connections that are due', async () => {
      const never = await add({ n: 1 })
      const due = await add({ n: 2 })
      const later = await add({ n: 3 })
      await success(due.id, T0, T0 + 1_000)
      await success(later.id, T0, T0 + 60_000)
      expect(new Set(ids(await store.listDue(T0 + 1_000, 10)))).toEqual(new Set([never.id, due.id]))
      expect(new Set(ids(await store.listDue(T0 + 60_000, 10)))).toEqual(new Set([never.id, due.id, later.id]))
    })

    it('lists due connections never-synced first, then by oldest lastSyncAt, within the limit', async () => {
      const a = await add({ n: 1 })
      const b = await add({ n: 2 })
      const c = await add({ n: 3 })
      const d = await add({ n: 4 })
      await success(a.id, T0 + 3_000, T0 + 3_000)
      await success(b.id, T0 + 1_000, T0 + 1_000)
      await success(c.id, T0 + 2_000, T0 + 2_000)
      const due = await store.listDue(T0 + 10_000, 10)
      expect(ids(due)).toEqual([d.id, b.id, c.id, a.id])
      expect(ids(await store.listDue(T0 + 10_000, 2))).toEqual([d.id, b.id])
    })

    it('filters by exchange', async () => {
      const binance = await add({ exchange: 'binance' })
      const okx = await add({ exchange: 'okx', n: 2 })
      expect(ids(await store.listDue(T0, 10, { exchange: 'okx' }))).toEqual([okx.id])
      expect(ids(await store.listDue(T0, 10, { exchange: 'binance' }))).toEqual([binance.id])
      expect(await store.listDue(T0, 10, { exchange: 'kraken' })).toEqual([])
    })

    it('pages with a keyset cursor: every due connection exactly once, in order', async () => {
      const all: Connection[] = []
      for (let n = 0; n < 45; n++) all.push(await add({ n, exchange: n % 3 === 0 ? 'okx' : 'binance' }))
      for (const [n, connection] of all.entries()) {
        if (n % 2 === 0) await success(connection.id, T0 + ((n * 7919) % 1000), T0)
      }
      const seen: Connection[] = []
      let after: { lastSyncAt: number | null; id: string } | undefined
      for (;;) {
        const page = await store.listDue(T0, 10, { exchange: 'binance', ...(after && { after }) })
        seen.push(...page)
        if (page.length < 10) break
        const last = page.at(-1) as Connection
        after = { lastSyncAt: last.lastSyncAt, id: last.id }
      }
      const binance = all.filter((_, n) => n % 3 !== 0)
      expect(seen).toHaveLength(binance.length)
      expect(new Set(ids(seen))).toEqual(new Set(ids(binance)))
      const keys = seen.map((connection) => [connection.lastSyncAt ?? Number.NEGATIVE_INFINITY, connection.id] as const)
      const sorted = [...keys].sort((x, y) => (x[0] !== y[0] ? x[0] - y[0] : x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0))
      expect(keys).toEqual(sorted)
    })

    it('keeps paging right while connections of earlier pages are synced', async () => {
      const all: Connection[] = []
      for (let n = 0; n < 30; n++) all.push(await add({ n }))
      const seen = new Set<string>()
      let after: { lastSyncAt: number | null; id: string } | undefined
      for (let page = 0; page < 10; page++) {
        const list = await store.listDue(T0, 7, after && { after })
        for (const connection of list) {
          expect(seen.has(connection.id)).toBe(false)
          seen.add(connection.id)
          await success(connection.id, T0 + 500, T0 + 60_000)
        }
        if (list.length < 7) break
        const last = list.at(-1) as Connection
        after = { lastSyncAt: last.lastSyncAt, id: last.id }
      }
      expect(seen.size).toBe(30)
    })

    it("lists a user's connections, oldest first, and no one else's", async () => {
      const first = await add({ userId: 'alice', n: 1 })
      await add({ userId: 'bob', n: 2 })
      const second = await add({ userId: 'alice', n: 3, exchange: 'okx' })
      expect(ids(await store.listByUser('alice'))).toEqual([first.id, second.id])
      expect(await store.listByUser('nobody')).toEqual([])
    })

    it('returns empty balances before the first sync, and copies after', async () => {
      const connection = await add()
      expect(await store.getBalances(connection.id)).toEqual([])
      await success(connection.id, T0)
      const copy = (await store.getBalances(connection.id)) as Balance[]
      ;(copy[0] as Balance).total = '0'
      expect(await store.getBalances(connection.id)).toEqual(balances)
    })

    it('hands out copies of connections', async () => {
      const connection = await add()
      const copy = (await store.get(connection.id)) as Connection
      copy.status = 'error'
      expect((await store.get(connection.id))?.status).toBe('active')
    })

    it('removes a connection with its credentials and balances', async () => {
      const connection = await add()
      await success(connection.id, T0)
      expect(await store.remove(connection.id)).toBe(true)
      expect(await store.get(connection.id)).toBeNull()
      expect(await store.getCredentials(connection.id)).toBeNull()
      expect(await store.getBalances(connection.id)).toBeNull()
      expect(await store.listByUser('user-1')).toEqual([])
      expect(await store.listDue(T0 + 1_000_000, 10)).toEqual([])
      expect(await store.remove(connection.id)).toBe(false)
    })

    it('refuses non-finite times, naming the field and the value, and stores nothing', async () => {
      const connection = await add()
      const before = await store.get(connection.id)
      const bad = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]
      for (const value of bad) {
        for (const field of ['startedAt', 'finishedAt', 'nextSyncAt'] as const) {
          const record = { balances, startedAt: T0, finishedAt: T0 + 100, nextSyncAt: T0 + 60_000, [field]: value }
          await expect(store.recordSuccess(connection.id, record)).rejects.toThrow(
            new RegExp(`${field}.*${String(value)}`),
          )
          const failed = {
            error: { code: 'NETWORK', message: 'boom' },
            startedAt: T0,
            finishedAt: T0 + 100,
            nextSyncAt: T0 + 60_000,
            disable: true,
            [field]: value,
          }
          await expect(store.recordFailure(connection.id, failed)).rejects.toThrow(
            new RegExp(`${field}.*${String(value)}`),
          )
        }
      }
      await expect(store.listDue(Number.NaN, 10)).rejects.toThrow(/now.*NaN/)
      expect(await store.get(connection.id)).toEqual(before)
      expect(await store.getBalances(connection.id)).toEqual([])
      expect(ids(await store.listDue(T0, 10))).toEqual([connection.id])
    })

    it('pages through many connections without gaps or duplicates', async () => {
      const total = options.pagingConnections ?? 100_000
      const added = new Set<string>()
      const exchanges = ['binance', 'okx']
      for (let start = 0; start < total; start += 200) {
        const batch = await Promise.all(
          Array.from({ length: Math.min(200, total - start) }, (_, k) =>
            add({ n: start + k, userId: `user-${(start + k) % 977}`, exchange: exchanges[(start + k) % 2] }),
          ),
        )
        for (const connection of batch) added.add(connection.id)
      }
      // A third of them synced at scattered times, so the order mixes never-synced and synced connections.
      const synced = [...added].filter((_, n) => n % 3 === 0)
      for (let start = 0; start < synced.length; start += 200) {
        await Promise.all(
          synced.slice(start, start + 200).map((id, k) => success(id, T0 + (((start + k) * 7919) % 100_003), T0)),
        )
      }
      const seen = new Set<string>()
      let previous: readonly [number, string] | undefined
      let after: { lastSyncAt: number | null; id: string } | undefined
      for (;;) {
        const page = await store.listDue(T0, 1_000, after && { after })
        for (const connection of page) {
          expect(seen.has(connection.id)).toBe(false)
          seen.add(connection.id)
          const key = [connection.lastSyncAt ?? Number.NEGATIVE_INFINITY, connection.id] as const
          if (previous) expect(previous[0] < key[0] || (previous[0] === key[0] && previous[1] < key[1])).toBe(true)
          previous = key
        }
        if (page.length < 1_000) break
        const last = page.at(-1) as Connection
        after = { lastSyncAt: last.lastSyncAt, id: last.id }
      }
      expect(seen.size).toBe(added.size)
      expect(added.size).toBe(total)
      for (const id of added) expect(seen.has(id)).toBe(true)
    }, 600_000)

    it('takes concurrent writes to different connections', async () => {
      const list = await Promise.all(Array.from({ length: 20 }, (_, n) => add({ n })))
      await Promise.all(list.map((connection, n) => success(connection.id, T0 + n, T0 + 60_000)))
      const stored = await Promise.all(list.map((connection) => store.get(connection.id)))
      expect(stored.map((connection) => connection?.lastSyncAt)).toEqual(list.map((_, n) => T0 + n))
    })

    if (options.rawContents) {
      const rawContents = options.rawContents
      it('never writes credentials where they can be read: plain, base64 or hex', async () => {
        const list = await Promise.all([add({ n: 1 }), add({ n: 2, exchange: 'okx' })])
        await success((list[0] as Connection).id, T0)
        await store.updateCredentials((list[1] as Connection).id, credentials('rotated'))
        const raw = await rawContents(store)
        expect(raw).toContain((list[0] as Connection).id)
        for (const n of [1, 2, 'rotated']) {
          for (const secret of Object.values(credentials(n))) {
            const bytes = new TextEncoder().encode(secret)
            const forms = [
              secret,
              btoa(secret),
              btoa(secret).replace(/=+$/, ''),
              [...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join(''),
              [...bytes].map((byte) => byte.toString(16).padStart(2, '0').toUpperCase()).join(''),
            ]
            for (const form of forms) expect(raw).not.toContain(form)
          }
        }
      })
    }

    if (options.openAnother) {
      const openAnother = options.openAnother
      const close = options.close

      it('two instances on one database: concurrent out-of-order results, the newest startedAt wins', async () => {
        const other = await openAnother(store)
        try {
          const connection = await add()
          expect(await other.get(connection.id)).toEqual(connection)
          const starts = Array.from({ length: 40 }, (_, n) => T0 + ((n * 17) % 40) * 1_000)
          const balancesAt = (at: number) => [{ asset: 'BTC', free: String(at), used: '0', total: String(at) }]
          const results = await Promise.all(
            starts.map((at, n) =>
              (n % 2 === 0 ? store : other).recordSuccess(connection.id, {
                balances: balancesAt(at),
                startedAt: at,
                finishedAt: at + 10,
                nextSyncAt: at + 60_000,
              }),
            ),
          )
          expect(results).toContain(true)
          const newest = Math.max(...starts)
          for (const reader of [store, other]) {
            expect(await reader.get(connection.id)).toMatchObject({ lastSyncAt: newest, nextSyncAt: newest + 60_000 })
            expect(await reader.getBalances(connection.id)).toEqual(balancesAt(newest))
          }
          // A late failure from before the newest success is dropped by either instance.
          expect(await failure(connection.id, T0)).toBe(false)
          const fromOther = await other.recordFailure(connection.id, {
            error: { code: 'NETWORK', message: 'late' },
            startedAt: T0 + 1_000,
            finishedAt: T0 + 2_000,
            nextSyncAt: T0 + 3_000,
            disable: false,
          })
          expect(fromOther).toBe(false)
        } finally {
          await close?.(other)
        }
      })

      it('two instances on one database: adds from both, each sees all', async () => {
        const other = await openAnother(store)
        try {
          const made = await Promise.all(
            Array.from({ length: 20 }, (_, n) =>
              (n % 2 === 0 ? store : other).add({ userId: 'shared', exchange: 'binance', credentials: credentials(n) }),
            ),
          )
          expect(new Set(ids(await other.listByUser('shared')))).toEqual(new Set(ids(made)))
          expect(new Set(ids(await store.listByUser('shared')))).toEqual(new Set(ids(made)))
          for (const [n, connection] of made.entries()) {
            expect(await (n % 2 === 0 ? other : store).getCredentials(connection.id)).toEqual(credentials(n))
          }
        } finally {
          await close?.(other)
        }
      })

      if (close) {
        it('keeps everything across close and reopen', async () => {
          const kept = await add({ label: 'Kept', n: 1 })
          const failed = await add({ n: 2, exchange: 'okx', userId: 'user-2' })
          const removed = await add({ n: 3 })
          await success(kept.id, T0 + 1_000, T0 + 61_000)
          await failure(failed.id, T0 + 2_000, true)
          await store.updateCredentials(kept.id, credentials('new'))
          await store.remove(removed.id)
          const before = {
            kept: await store.get(kept.id),
            failed: await store.get(failed.id),
            user: await store.listByUser('user-1'),
          }
          await close(store)
          const reopened = await openAnother(store)
          try {
            expect(await reopened.get(kept.id)).toEqual(before.kept)
            expect(await reopened.get(failed.id)).toEqual(before.failed)
            expect(await reopened.get(removed.id)).toBeNull()
            expect(await reopened.listByUser('user-1')).toEqual(before.user)
            expect(await reopened.getBalances(kept.id)).toEqual(balances)
            expect(await reopened.getCredentials(kept.id)).toEqual(credentials('new'))
            expect(await reopened.getCredentials(failed.id)).toEqual(credentials(2))
            expect(ids(await reopened.listDue(T0 + 10_000_000, 10))).toEqual([kept.id])
          } finally {
            store = reopened
          }
        })
      }
    }
  })
}
