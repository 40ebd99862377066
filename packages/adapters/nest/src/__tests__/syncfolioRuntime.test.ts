import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Test } from '@nestjs/testing'
import { MemoryStore } from '@syncfolio/core'
import { FakeClock, recordingAdapter } from '@syncfolio/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { SyncfolioModule } from '../index.js'
import { SyncfolioRuntime } from '../syncfolioRuntime.js'

const KEYS = { apiKey: 'AK-fastify-0a1b2c3d', secret: 'SK-fastify-4e5f6a7b' }

/** The parts of Fastify's request and reply the module relies on. Fastify itself is not installed here. */
interface FastifyShapedRequest {
  raw: IncomingMessage
  body: unknown
  headers: IncomingMessage['headers']
  user?: { id: string }
}
interface FastifyShapedReply {
  raw: ServerResponse
  hijack(): void
}

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup()
})

describe('SyncfolioRuntime.serve', () => {
  it('serves Fastify-shaped objects: Node underneath, the reply hijacked, the body Fastify parsed', async () => {
    const store = new MemoryStore()
    const binance = recordingAdapter('binance', () => ({ balances: [] }))
    const moduleRef = await Test.createTestingModule({
      imports: [
        SyncfolioModule.forRoot({
          store,
          exchanges: [binance],
          clock: new FakeClock(),
          role: 'api',
          resolveUser: (request: FastifyShapedRequest) => request.user?.id ?? null,
        }),
      ],
    }).compile()
    cleanups.push(() => moduleRef.close())
    const runtime = moduleRef.get(SyncfolioRuntime)
    let hijacked = 0
    const server = createServer((req, res) => {
      void (async () => {
        // What Fastify does before a route handler runs: reads the whole body, parses it, wraps req and res.
        const chunks: Buffer[] = []
        for await (const chunk of req) chunks.push(chunk as Buffer)
        const text = Buffer.concat(chunks).toString('utf8')
        const request: FastifyShapedRequest = {
          raw: req,
          body: text === '' ? undefined : JSON.parse(text),
          headers: req.headers,
          user: { id: 'alice' },
        }
        const reply: FastifyShapedReply = {
          raw: res,
          hijack: () => {
            hijacked++
          },
        }
        await runtime.serve(request, reply, new URL(req.url ?? '/', 'http://localhost').pathname)
      })()
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    cleanups.push(async () => {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    })
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

    const added = await fetch(`${base}/connections`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ exchange: 'binance', label: 'Main', credentials: KEYS }),
    })
    expect(added.status).toBe(201)
    const { connection } = (await added.json()) as { connection: { id: string } }
    expect(await store.getCredentials(connection.id)).toEqual(KEYS)
    const listed = await fetch(`${base}/connections`)
    expect(((await listed.json()) as { connections: unknown[] }).connections).toHaveLength(1)
    expect(hijacked).toBe(2)
  })
})
