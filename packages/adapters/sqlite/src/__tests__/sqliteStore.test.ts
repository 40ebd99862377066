import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { createCredentialCipher, generateCredentialKey, InvalidOptionError, type SyncStore } from '@syncfolio/core'
import { describeSyncStoreConformance } from '@syncfolio/testing/conformance'
import Database from 'better-sqlite3'
import { afterAll, describe, expect, it } from 'vitest'
import { SqliteStore } from '../sqliteStore.js'

const key = generateCredentialKey()
const cipher = createCredentialCipher({ keys: { k1: key }, primary: 'k1' })
const credentials = { apiKey: 'api-key-XXXXXXXXXXXX', secret: 'secret-YYYYYYYYYYYY' }
const dir = mkdtempSync(join(tmpdir(), 'syncfolio-sqlite-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

let files = 0
const filenames = new WeakMap<SyncStore, string>()
const open = (filename: string) => {
  const store = new SqliteStore({ filename, cipher })
  filenames.set(store, filename)
  return store
}

/** The file's bytes (and its write-ahead log's) as text, and every row as JSON. */
function rawContents(filename: string): string {
  const bytes = [filename, `${filename}-wal`].filter(existsSync).map((file) => readFileSync(file).toString('latin1'))
  const db = new Database(filename, { readonly: true })
  try {
    const rows = db.prepare('SELECT * FROM syncfolio_connections').all()
    return [...bytes, JSON.stringify(rows)].join('\n')
  } finally {
    db.close()
  }
}

describeSyncStoreConformance(
  'SqliteStore',
  async () => {
    const store = open(join(dir, `store-${++files}.db`))
    await store.migrate()
    return store
  },
  {
    teardown: (store) => (store as SqliteStore).close(),
    openAnother: (store) => open(filenames.get(store) as string),
    close: (store) => (store as SqliteStore).close(),
    rawContents: (store) => rawContents(filenames.get(store) as string),
  },
)

describe('SqliteStore', () => {
  it('creates the folder of the file, in WAL mode with a busy timeout', async () => {
    const filename = join(dir, 'nested', 'folder', 'data.db')
    const store = new SqliteStore({ filename, cipher, busyTimeoutMs: 1_234 })
    await store.add({ userId: 'u', exchange: 'binance', credentials })
    await store.close()
    const db = new Database(filename, { readonly: true })
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal')
    db.close()
  })

  it('is shared by several processes on one machine: adds and forward-only writes from each', async () => {
    const filename = join(dir, `processes-${++files}.db`)
    const store = open(filename)
    const { id } = await store.add({ userId: 'shared', exchange: 'binance', credentials })
    const script = `
      const { SqliteStore } = await import('@syncfolio/sqlite')
      const { createCredentialCipher } = await import('@syncfolio/core')
      const [filename, key, id, worker] = process.argv.slice(1)
      const store = new SqliteStore({ filename, cipher: createCredentialCipher({ keys: { k1: key }, primary: 'k1' }) })
      for (let n = 0; n < 25; n++) {
        await store.add({ userId: 'shared', exchange: 'okx', credentials: { apiKey: 'w' + worker + '-' + n, secret: 's' } })
        const at = 1000 + ((n * 7 + Number(worker) * 3) % 50) * 1000
        await store.recordSuccess(id, { balances: [{ asset: 'BTC', free: String(at), used: '0', total: String(at) }], startedAt: at, finishedAt: at + 1, nextSyncAt: at + 60000 })
      }
      await store.close()
    `
    const root = fileURLToPath(new URL('../../../../../', import.meta.url))
    const run = promisify(execFile)
    await Promise.all(
      [1, 2, 3].map((worker) =>
        run(
          process.execPath,
          [
            '--import',
            'tsx',
            '--conditions=@syncfolio/source',
            '--input-type=module',
            '-e',
            script,
            filename,
            key,
            id,
            String(worker),
          ],
          { cwd: root },
        ),
      ),
    )
    const all = await store.listByUser('shared')
    expect(all).toHaveLength(76)
    let newest = 0
    for (let n = 0; n < 25; n++) {
      for (const worker of [1, 2, 3]) newest = Math.max(newest, 1000 + ((n * 7 + worker * 3) % 50) * 1000)
    }
    expect(await store.get(id)).toMatchObject({ lastSyncAt: newest, nextSyncAt: newest + 60_000 })
    expect(await store.getBalances(id)).toEqual([
      { asset: 'BTC', free: String(newest), used: '0', total: String(newest) },
    ])
    await store.close()
  }, 120_000)

  it('re-encrypts under a new primary key', async () => {
    const filename = join(dir, `rotate-${++files}.db`)
    const k2 = generateCredentialKey()
    const first = open(filename)
    const { id } = await first.add({ userId: 'u', exchange: 'binance', credentials })
    await first.close()
    const rotated = new SqliteStore({
      filename,
      cipher: createCredentialCipher({ keys: { k1: key, k2 }, primary: 'k2' }),
    })
    expect(await rotated.reencrypt()).toEqual({ reencrypted: 1, unreadable: [] })
    await rotated.close()
    const onlyNew = new SqliteStore({ filename, cipher: createCredentialCipher({ keys: { k2 }, primary: 'k2' }) })
    expect(await onlyNew.getCredentials(id)).toEqual(credentials)
    await onlyNew.close()
  })

  it('refuses to start without a cipher, saying how to make a key', () => {
    const filename = join(dir, 'never.db')
    expect(() => new SqliteStore({ filename } as never)).toThrow(InvalidOptionError)
    expect(() => new SqliteStore({ filename } as never)).toThrow(/"cipher".*generateCredentialKey/)
    expect(() => new SqliteStore({ cipher } as never)).toThrow(/"filename"/)
    expect(() => new SqliteStore({ filename, cipher, busyTimeoutMs: -1 })).toThrow(/"busyTimeoutMs"/)
  })
})
