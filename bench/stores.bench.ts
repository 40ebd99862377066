// The persistent stores against MemoryStore: store work per sync inside a 100,000-connection no-op sweep, and the
// cost of one listDue page as the store grows from 1,000 to 1,000,000 connections (indexed, not scanned).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PGlite } from '@electric-sql/pglite'
import {
  createCredentialCipher,
  type ExchangeAdapter,
  generateCredentialKey,
  MemoryStore,
  SyncScheduler,
  type SyncStore,
} from '@syncfolio/core'
import { PostgresStore } from '@syncfolio/postgres'
import { SqliteStore } from '@syncfolio/sqlite'
import { startPostgres } from '@syncfolio/testing/services'
import Database from 'better-sqlite3'
import pg from 'pg'
import { type Benchmark, fixed, ratio, runVariant, table } from './lib/harness.js'

type Kind = 'memory' | 'sqlite' | 'pglite' | 'postgres'
const KINDS: Kind[] = ['memory', 'sqlite', 'pglite', 'postgres']
const NAMES: Record<Kind, string> = {
  memory: 'MemoryStore',
  sqlite: 'SqliteStore (file, WAL)',
  pglite: 'PostgresStore on PGlite',
  postgres: 'PostgresStore on Postgres 15',
}
const T0 = Date.UTC(2026, 0, 1)
const BALANCES = [{ asset: 'BTC', free: '0.10000000', used: '0', total: '0.10000000' }]
const COLUMNS =
  'id, user_id, exchange, label, status, sync_order, last_attempt_at, due_at, failure_count, credentials, credentials_key, balances, created_at'

interface Opened {
  store: SyncStore
  /** Inserts rows straight into the table, a batch per statement: populating through add() would take minutes. */
  insert(rows: unknown[][]): Promise<void>
  close(): Promise<void>
}

async function open(kind: Kind): Promise<Opened> {
  const cipher = createCredentialCipher({ keys: { k1: generateCredentialKey() }, primary: 'k1' })
  if (kind === 'memory') {
    const store = new MemoryStore()
    return {
      store,
      // MemoryStore has no table: it is populated through add(), and its rows' times through recordSuccess().
      insert: async (rows) => {
        for (const row of rows) {
          const added = await store.add({ userId: row[1] as string, exchange: row[2] as string, credentials: CREDS })
          if ((row[5] as number) > Number.MIN_SAFE_INTEGER) {
            await store.recordSuccess(added.id, {
              balances: [],
              startedAt: row[5] as number,
              finishedAt: row[5] as number,
              nextSyncAt: row[7] as number,
            })
          }
        }
      },
      close: async () => {},
    }
  }
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'syncfolio-bench-'))
    const filename = join(dir, 'bench.db')
    const store = new SqliteStore({ filename, cipher })
    await store.migrate()
    const raw = new Database(filename)
    const statement = raw.prepare(
      `INSERT INTO syncfolio_connections (${COLUMNS}) VALUES (${COLUMNS.split(',')
        .map(() => '?')
        .join(', ')})`,
    )
    const many = raw.transaction((rows: unknown[][]) => {
      for (const row of rows) statement.run(...row)
    })
    return {
      store,
      insert: async (rows) => many(rows),
      close: async () => {
        raw.close()
        await store.close()
        rmSync(dir, { recursive: true, force: true })
      },
    }
  }
  const server = kind === 'postgres' ? await startPostgres() : null
  const db = server ? new pg.Pool({ connectionString: server.connectionString, max: 6 }) : new PGlite()
  const store = new PostgresStore({ db, cipher })
  await store.migrate()
  const query = db as unknown as { query(text: string, params: unknown[]): Promise<unknown> }
  return {
    store,
    insert: async (rows) => {
      const width = (rows[0] as unknown[]).length
      const values = rows.map(
        (_, r) => `(${Array.from({ length: width }, (_, c) => `$${r * width + c + 1}`).join(', ')})`,
      )
      await query.query(`INSERT INTO syncfolio_connections (${COLUMNS}) VALUES ${values.join(', ')}`, rows.flat())
    },
    close: async () => {
      await store.close()
      await server?.stop()
    },
  }
}

const CREDS = { apiKey: 'bench-key', secret: 'bench-secret' }

/**
 * Row n of a store: two exchanges; a third never synced, the rest synced at scattered times and due at scattered
 * times around T0, so about half are due. `credentials` is a placeholder, never opened by listDue.
 */
function row(n: number): unknown[] {
  const never = n % 3 === 0
  const syncedAt = T0 - 3_600_000 + ((n * 7919) % 3_600_000)
  const dueAt = never ? Number.MIN_SAFE_INTEGER : T0 - 1_800_000 + ((n * 104_729) % 3_600_000)
  return [
    `c-${String(n).padStart(8, '0')}`,
    `user-${n % 50_000}`,
    n % 2 === 0 ? 'binance' : 'okx',
    null,
    'active',
    never ? Number.MIN_SAFE_INTEGER : syncedAt,
    never ? null : syncedAt,
    dueAt,
    0,
    'v1.k1.placeholder.placeholder',
    'k1',
    '[]',
    T0,
  ]
}

async function populate(target: Opened, from: number, to: number): Promise<void> {
  for (let start = from; start < to; start += 1_000) {
    const rows: unknown[][] = []
    for (let n = start; n < Math.min(to, start + 1_000); n++) rows.push(row(n))
    await target.insert(rows)
  }
}

/** The median wall time of one 100-connection page, first page and a page after a cursor, over 30 rounds. */
async function pageMs(store: SyncStore): Promise<number> {
  const times: number[] = []
  for (let round = 0; round < 32; round++) {
    const started = performance.now()
    const first = await store.listDue(T0, 100, { exchange: 'binance' })
    const last = first.at(-1)
    await store.listDue(T0, 100, {
      exchange: 'binance',
      ...(last && { after: { lastSyncAt: last.lastSyncAt, id: last.id } }),
    })
    if (round >= 2) times.push((performance.now() - started) / 2)
  }
  times.sort((a, b) => a - b)
  return times[Math.floor(times.length / 2)] as number
}

export const variants = {
  /** One listDue page at 1,000, 100,000 and 1,000,000 stored connections, populated in one store as it grows. */
  pages: async ({ kind }: { kind: Kind }) => {
    const target = await open(kind)
    const figures: Record<string, number> = {}
    let stored = 0
    for (const size of [1_000, 100_000, 1_000_000]) {
      await populate(target, stored, size)
      stored = size
      figures[`page${size}`] = await pageMs(target.store)
    }
    await target.close()
    return figures
  },

  /** SyncScheduler.runOnce over 100,000 connections with a no-op adapter: the store's work per sync. */
  sweep: async ({ kind, count }: { kind: Kind; count: number }) => {
    const target = await open(kind)
    const exchanges = ['binance', 'okx']
    for (let start = 0; start < count; start += 500) {
      await Promise.all(
        Array.from({ length: Math.min(500, count - start) }, (_, k) =>
          target.store.add({
            userId: `user-${start + k}`,
            exchange: exchanges[(start + k) % 2] as string,
            credentials: CREDS,
          }),
        ),
      )
    }
    let calls = 0
    const adapter = (id: string): ExchangeAdapter => ({
      id,
      async fetchBalances() {
        calls++
        return { balances: BALANCES }
      },
    })
    const scheduler = new SyncScheduler({
      store: target.store,
      exchanges: exchanges.map(adapter),
      concurrency: 5,
      limits: { binance: { budgets: [] }, okx: { budgets: [] } },
    })
    const cpu = process.cpuUsage()
    const started = performance.now()
    await scheduler.runOnce()
    const wallMs = performance.now() - started
    const used = process.cpuUsage(cpu)
    await target.close()
    if (calls !== count) throw new Error(`synced ${calls} of ${count}`)
    return { wallMs, sweepCpuMs: (used.user + used.system) / 1000 }
  },
}

const file = import.meta.url

export const benchmark: Benchmark = {
  title: 'Stores: SQLite and Postgres against MemoryStore',
  async run() {
    const count = 100_000
    const sweeps = new Map<Kind, { wallMs: number; cpuMs: number }>()
    const pages = new Map<Kind, Record<string, number>>()
    for (const kind of KINDS) {
      const sweep = await runVariant(file, 'sweep', { kind, count })
      sweeps.set(kind, { wallMs: sweep.wallMs as number, cpuMs: sweep.sweepCpuMs as number })
      pages.set(kind, (await runVariant(file, 'pages', { kind })) as unknown as Record<string, number>)
    }
    const memory = sweeps.get('memory') as { wallMs: number; cpuMs: number }
    const memoryPages = pages.get('memory') as Record<string, number>
    const sweepRows = KINDS.map((kind) => {
      const sweep = sweeps.get(kind) as { wallMs: number; cpuMs: number }
      return [
        NAMES[kind],
        fixed((sweep.wallMs * 1000) / count, 1),
        ratio(sweep.wallMs, memory.wallMs),
        fixed((sweep.cpuMs * 1000) / count, 1),
        fixed(sweep.wallMs / 1000, 1),
        Math.round(count / (sweep.wallMs / 1000)).toLocaleString('en-US'),
      ]
    })
    const pageRows = KINDS.map((kind) => {
      const page = pages.get(kind) as Record<string, number>
      return [
        NAMES[kind],
        fixed(page.page1000 as number, 3),
        fixed(page.page100000 as number, 3),
        fixed(page.page1000000 as number, 3),
        ratio(page.page1000000 as number, page.page1000 as number),
        ratio(page.page1000000 as number, memoryPages.page1000000 as number),
      ]
    })
    const worst = Math.max(...KINDS.map((kind) => (sweeps.get(kind) as { wallMs: number }).wallMs))
    const growth = Math.max(
      ...KINDS.map((kind) => {
        const page = pages.get(kind) as Record<string, number>
        return (page.page1000000 as number) / (page.page1000 as number)
      }),
    )
    return [
      `### Store work per sync: SyncScheduler.runOnce over ${count.toLocaleString('en-US')} connections, no-op adapter`,
      '',
      table(
        ['store', 'wall µs / sync', 'ratio to MemoryStore', 'client CPU µs / sync', 'sweep (s)', 'syncs / s'],
        sweepRows,
      ),
      '',
      'Concurrency 5, no budgets: every sync is listDue paging, getCredentials (decrypting), recordSuccess. Wall time, since a Postgres server works in a process of its own; client CPU is the benchmark process alone.',
      '',
      '### One listDue page (100 connections of one exchange) as the store grows',
      '',
      table(
        [
          'store',
          'ms at 1,000',
          'ms at 100,000',
          'ms at 1,000,000',
          '1,000,000 / 1,000',
          'ratio to MemoryStore at 1,000,000',
        ],
        pageRows,
      ),
      '',
      'Median of 30 rounds of a first page and a page after its cursor; about half of the connections are due, a third never synced. Rows are inserted straight into the table (MemoryStore: through add), then no ANALYZE: plans without table statistics, as PGlite and a fresh server have them.',
      '',
      `Slowest sweep: ${fixed(worst / 1000, 1)} s for ${count.toLocaleString('en-US')} syncs (${Math.round(count / (worst / 1000)).toLocaleString('en-US')} syncs/s). Largest page growth from 1,000 to 1,000,000 stored: ${fixed(growth, 2)}x.`,
    ].join('\n')
  },
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(await benchmark.run())
