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
  trigger: 'sweep' | 'manual'
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
    // A manual sync from the dashboard's API: the dashboard runs no sync of its own, a worker does.
    const manual = await fetch(`${api}/connections/${first?.id}/sync`, { method: 'POST' })
    expect([200, 202]).toContain(manual.status)

    const seen: StreamedSync[] = []
    for await (const message of readServerSentEvents(stream.body as ReadableStream<Uint8Array>)) {
      if (message.event !== 'sync:success') continue
      seen.push(JSON.parse(message.data) as StreamedSync)
      if (seen.some((event) => event.trigger === 'manual') && seen.length >= connections.connections.length) break
    }
    for (const event of seen) expect(event.worker).toMatch(/^worker-[123]$/)
    const manualSync = seen.find((event) => event.trigger === 'manual')
    expect(manualSync?.connectionId).toBe(first?.id)
    // The worker that ran it says so in its own output.
    expect(lines.some((line) => line.startsWith(`[${manualSync?.worker}] synced`))).toBe(true)

    await rm(uiDir, { recursive: true, force: true })
  }, 120_000)
})
