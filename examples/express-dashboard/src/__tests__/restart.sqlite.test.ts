import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, it } from 'vitest'
import { DEMO_USER_ID, startDashboard } from '../server/startDashboard.js'

const dataDir = mkdtempSync(join(tmpdir(), 'syncfolio-dashboard-'))
afterAll(() => rmSync(dataDir, { recursive: true, force: true }))
const start = () =>
  startDashboard({ port: 0, dataDir, intervalMs: 600_000, latencyMs: 0, uiDir: dataDir, log: () => {} })

it('keeps a connection added before a restart, with its balances, and syncs it after', async () => {
  const first = await start()
  let id: string
  let key: string
  let balancesBefore: unknown
  try {
    expect(first.storeDescription).toContain(join(dataDir, 'syncfolio.db'))
    const added = await first.store.add({
      userId: DEMO_USER_ID,
      exchange: 'binance',
      label: 'Savings',
      credentials: { apiKey: 'demo-binance-savings-key', secret: 'demo-binance-savings-secret' },
    })
    id = added.id
    expect(await first.scheduler.syncNow(id)).toMatchObject({ ok: true })
    balancesBefore = await first.store.getBalances(id)
    expect(balancesBefore).not.toEqual([])
    key = readFileSync(join(dataDir, 'syncfolio.key'), 'utf8')
    expect(statSync(join(dataDir, 'syncfolio.key')).mode & 0o777).toBe(0o600)
  } finally {
    await first.close()
  }
  // The database file holds no readable key.
  const file = readFileSync(join(dataDir, 'syncfolio.db')).toString('latin1')
  const wal = existsSync(join(dataDir, 'syncfolio.db-wal'))
    ? readFileSync(join(dataDir, 'syncfolio.db-wal')).toString('latin1')
    : ''
  expect(file + wal).not.toContain('demo-binance-savings-secret')

  const second = await start()
  try {
    // Same key, same connections: the demo accounts are not connected a second time.
    expect(readFileSync(join(dataDir, 'syncfolio.key'), 'utf8')).toBe(key)
    const response = await fetch(`${second.url}/api/syncfolio/connections`)
    const { connections } = (await response.json()) as { connections: Array<{ id: string; label?: string }> }
    expect(connections.filter((connection) => connection.id === id)).toHaveLength(1)
    expect(connections.filter((connection) => connection.label === 'Savings')).toHaveLength(1)
    expect(connections).toHaveLength(second.connections.length)
    expect(await second.store.get(id)).toMatchObject({ label: 'Savings', status: 'active' })
    expect(await second.store.getBalances(id)).toEqual(balancesBefore)
    const before = (await second.store.get(id))?.lastSyncAt as number
    expect(await second.scheduler.syncNow(id)).toMatchObject({ ok: true })
    expect((await second.store.get(id))?.lastSyncAt).toBeGreaterThan(before)
  } finally {
    await second.close()
  }
}, 60_000)
