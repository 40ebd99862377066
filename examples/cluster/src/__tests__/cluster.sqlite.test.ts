// The cluster demo comes up as `npm run demo:cluster` starts it: Redis, the dashboard as the api process, three
// worker processes, one SQLite file. Syncs run on the workers, and the dashboard's event stream names the worker.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readServerSentEvents } from '@syncfolio/core/client'
import { afterAll, describe, expect, it } from 'vitest'
import { type ClusterDemo, startCluster } from '../startCluster.js'

interface StreamedSync {
  type: string
  connectionId: string
  worker?: string
}

describe('the cluster demo', () => {
  let cluster: ClusterDemo | undefined
  let dataDir: string | undefined
  afterAll(async () => {
    await cluster?.close()
    if (dataDir) await rm(dataDir, { recursive: true, force: true })
  }, 60_000)

  it('comes up, runs the syncs on its workers, and the dashboard event stream says which worker ran each', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'syncfolio-cluster-demo-'))
    const uiDir = await mkdtemp(join(tmpdir(), 'syncfolio-cluster-ui-'))
    const lines: string[] = []
    cluster = await startCluster({
      dataDir,
      uiDir,
      port: 0,
      intervalMs: 5_000,
      latencyMs: 20,
      log: (line) => lines.push(line),
    })
    expect([...cluster.workers.keys()].sort()).toEqual(['worker-1', 'worker-2', 'worker-3'])
    const api = `${cluster.dashboard.url}/api/syncfolio`

    const stream = await fetch(`${api}/events`)
    expect(stream.status).toBe(200)
    const connections = (await (await fetch(`${api}/connections`)).json()) as { connections: Array<{ id: string }> }
    const first = connections.connections[0]
    expect(first).toBeDefined()
    // A manual sync from the dashboard's API: the dashboard runs no sync of its own, a worker does (or the sweep's
    // sync of that connection already in flight, which the request joins).
    const manual = await fetch(`${api}/connections/${first?.id}/sync`, { method: 'POST' })
    expect([200, 202]).toContain(manual.status)
    if (manual.status === 200) expect(((await manual.json()) as { outcome: string }).outcome).toBe('success')

    // Every connection's sync reaches the dashboard's stream, naming the worker that ran it.
    const ranBy = new Map<string, string | undefined>()
    for await (const message of readServerSentEvents(stream.body as ReadableStream<Uint8Array>)) {
      if (message.event !== 'sync:success') continue
      const event = JSON.parse(message.data) as StreamedSync
      expect(event.worker).toMatch(/^worker-[123]$/)
      ranBy.set(event.connectionId, event.worker)
      if (connections.connections.every((connection) => ranBy.has(connection.id))) break
    }
    // The worker that ran the first connection's sync says so in its own output.
    const worker = ranBy.get(first?.id as string)
    while (!lines.some((line) => line.startsWith(`[${worker}] synced`) && line.includes(first?.id as string))) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }

    await rm(uiDir, { recursive: true, force: true })
  }, 120_000)
})
