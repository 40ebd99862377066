import { readFile } from 'node:fs/promises'
import { MemoryStore, SyncError, SyncScheduler } from '@syncfolio/core'
import { FakeClock, recordingAdapter } from '@syncfolio/testing'
import { freePort } from '@syncfolio/testing/services'
import { describe, expect, it } from 'vitest'
import { serveMetrics } from '../../examples/prometheus.js'

describe('the Prometheus example of docs/operations.md', () => {
  it('serves every instrument on /metrics, without a connection or user id', async () => {
    const clock = new FakeClock()
    const store = new MemoryStore()
    const scheduler = new SyncScheduler({
      store,
      clock,
      exchanges: [
        recordingAdapter('binance', ({ credentials }) => {
          if (credentials.apiKey === 'revoked') throw new SyncError('AUTH_FAILED', 'Invalid API-key')
          if (credentials.apiKey === 'busy') {
            throw new SyncError('RATE_LIMITED', 'Too many requests', { retryAfterMs: 5_000, scope: 'account' })
          }
          return { balances: [] }
        }),
        recordingAdapter('okx'),
      ],
      limits: {
        binance: { budgets: [] },
        okx: { cost: 1, budgets: [{ scope: 'exchange', limit: 10, windowMs: 2_000 }] },
      },
    })
    scheduler.on('error', () => {})
    const connections = await Promise.all(
      ['good', 'revoked', 'busy'].map((apiKey, n) =>
        store.add({ userId: `alice-${n}`, exchange: 'binance', credentials: { apiKey, secret: 's' } }),
      ),
    )
    connections.push(await store.add({ userId: 'bob', exchange: 'okx', credentials: { apiKey: 'k', secret: 's' } }))
    const port = await freePort()
    const metrics = await serveMetrics(scheduler, { host: '127.0.0.1', port })
    try {
      // Two sweeps: the second reaches connections synced before, so their age is observed.
      await scheduler.runOnce()
      await clock.advance(2 * 60_000)
      await scheduler.runOnce()
      const response = await fetch(`http://127.0.0.1:${port}/metrics`)
      expect(response.status).toBe(200)
      const body = await response.text()
      // The names the PromQL of docs/operations.md uses: dots become underscores, a counter gains `_total`.
      for (const line of [
        '# TYPE syncfolio_sync_duration histogram',
        '# TYPE syncfolio_connection_age histogram',
        '# TYPE syncfolio_ratelimit_wait histogram',
        '# TYPE syncfolio_budget_remaining gauge',
        '# TYPE syncfolio_connections_disabled_total counter',
      ]) {
        expect(body.split('\n')).toContain(line)
      }
      expect(body).toMatch(/^syncfolio_connections_disabled_total\{syncfolio_exchange="binance"[^}]*\} 1$/m)
      expect(body).toMatch(/^syncfolio_connection_age_sum\{syncfolio_exchange="binance"[^}]*\} 120$/m)
      expect(body).toMatch(/^syncfolio_sync_duration\w*_count\{[^}]*syncfolio_outcome="ok"[^}]*\} \d/m)
      expect(body).toMatch(/^syncfolio_budget_remaining\w*\{[^}]*syncfolio_exchange="okx"[^}]*\} 9$/m)
      for (const connection of connections) {
        expect(body).not.toContain(connection.id)
        expect(body).not.toContain(connection.userId)
      }
    } finally {
      await metrics.close()
    }
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow()
  })

  it('is the code docs/operations.md shows, line for line', async () => {
    const example = await readFile(new URL('../../examples/prometheus.ts', import.meta.url), 'utf8')
    const doc = await readFile(new URL('../../../../../docs/operations.md', import.meta.url), 'utf8')
    // The file's first line is a comment the doc says in prose; the rest is in a code block of the doc.
    const code = example.split('\n').slice(1).join('\n').trim()
    const blocks = [...doc.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => (match[1] as string).trim())
    expect(blocks).toContain(code)
  })
})
