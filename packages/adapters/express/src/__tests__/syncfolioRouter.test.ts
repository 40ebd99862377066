import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import type { Server } from 'node:http'
import { Agent, request as httpRequest, type IncomingMessage } from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BullmqScheduler } from '@syncfolio/bullmq'
import { InvalidOptionError, MemoryStore, SyncError, SyncScheduler } from '@syncfolio/core'
import { createSyncClient, type SyncEvent } from '@syncfolio/core/client'
import { FakeClock, recordingAdapter } from '@syncfolio/testing'
import { startRedis } from '@syncfolio/testing/services'
import type { default as createExpressApp, Express, Request as ExpressRequest, RequestHandler } from 'express'
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { type SyncfolioRouterOptions, syncfolioRouter } from '../index.js'

const KEYS = { apiKey: 'AK-express-a1b2c3d4e5', secret: 'SK-express-f6e5d4c3b2', password: 'PP-express-9876' }

/**
 * Loads express after making sure its router can `require('is-promise')`. vitest.config.ts lists `import` among
 * `ssr.resolve.conditions`, which vitest hands to Node as `--conditions`, so CommonJS `require` picks the ESM
 * build of dual packages: the router then gets a namespace object instead of the function and every middleware
 * layer throws. The CommonJS build is put in the require cache under the name Node resolves to; with a config
 * that does not pass `import` to Node, this finds a function and does nothing.
 */
async function loadExpress(): Promise<typeof createExpressApp> {
  const require = createRequire(import.meta.url)
  const routerRequire = createRequire(require.resolve('router'))
  const resolved = routerRequire.resolve('is-promise')
  if (typeof routerRequire('is-promise') !== 'function') {
    const commonJs = resolved.replace(/index\.mjs$/, 'index.js')
    routerRequire(commonJs)
    require.cache[resolved] = require.cache[commonJs]
  }
  return (await import('express')).default
}

let express: Awaited<ReturnType<typeof loadExpress>>
beforeAll(async () => {
  express = await loadExpress()
})

const servers: Server[] = []
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }
})

/** The app's own auth: a header stands in for a session, and sets `req.user` like passport would. */
const userOf = (req: ExpressRequest) => (req as ExpressRequest & { user?: { id: string } }).user?.id ?? null

async function setup(
  options: {
    mount?: (app: Express, router: RequestHandler) => void
    before?: (app: Express) => void
    router?: Partial<SyncfolioRouterOptions>
  } = {},
) {
  const store = new MemoryStore()
  const binance = recordingAdapter('binance', ({ credentials }) => {
    if (credentials.apiKey.startsWith('bad')) throw new SyncError('AUTH_FAILED', `Invalid key ${credentials.apiKey}`)
    return { balances: [{ asset: 'BTC', free: '0.5', used: '0.25', total: '0.75' }] }
  })
  const scheduler = new SyncScheduler({ store, exchanges: [binance], clock: new FakeClock() })
  const clock = new FakeClock()
  const app = express()
  app.use((req, _res, next) => {
    const id = req.get('x-user')
    if (id) (req as ExpressRequest & { user?: { id: string } }).user = { id }
    next()
  })
  options.before?.(app)
  const router = syncfolioRouter({
    scheduler,
    store,
    resolveUser: userOf,
    clock,
    ...options.router,
  })
  if (options.mount) options.mount(app, router)
  else app.use('/api/syncfolio', router)
  app.use((_req, res) => {
    res.status(404).type('text/plain').send('app fallthrough')
  })
  const server = app.listen(0, '127.0.0.1')
  servers.push(server)
  await once(server, 'listening')
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const base = `${origin}/api/syncfolio`

  async function call(method: string, path: string, init: { user?: string | null; body?: unknown } = {}) {
    const { user = 'alice', body } = init
    const response = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(user !== null && { 'x-user': user }),
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    })
    const text = await response.text()
    return { status: response.status, headers: response.headers, text, json: text ? JSON.parse(text) : undefined }
  }

  return { store, scheduler, binance, clock, app, server, origin, base, call, router }
}

describe('syncfolioRouter over a real HTTP server', () => {
  it('serves every route for the user that the app authenticated', async () => {
    const { call, store, clock } = await setup()
    const added = await call('POST', '/connections', {
      body: { exchange: 'binance', label: 'Main', credentials: KEYS },
    })
    expect(added.status).toBe(201)
    expect(added.headers.get('content-type')).toBe('application/json; charset=utf-8')
    expect(added.headers.get('cache-control')).toBe('no-store')
    const id = added.json.connection.id as string
    expect(await store.getCredentials(id)).toEqual(KEYS)

    expect((await call('GET', '/exchanges')).json).toEqual({ exchanges: ['binance'] })
    expect((await call('GET', '/connections')).json.connections).toEqual([added.json.connection])
    const synced = await call('POST', `/connections/${id}/sync`)
    expect(synced.json).toMatchObject({ outcome: 'success', connection: { id } })
    expect((await call('POST', `/connections/${id}/sync`)).headers.get('retry-after')).toBe('15')
    expect((await call('GET', `/connections/${id}`)).json.balances).toHaveLength(1)
    expect((await call('GET', `/holdings?connectionIds=${id}`)).json).toMatchObject({
      holdings: [{ asset: 'BTC', total: '0.75' }],
      connectionIds: [id],
    })
    const fresh = { apiKey: 'AK-express-new-000111', secret: 'SK-express-new-222333' }
    expect((await call('PUT', `/connections/${id}/credentials`, { body: { credentials: fresh } })).status).toBe(200)
    expect(await store.getCredentials(id)).toEqual(fresh)
    const removed = await call('DELETE', `/connections/${id}`)
    expect(removed.status).toBe(204)
    expect(removed.text).toBe('')
    expect(await store.get(id)).toBeNull()
    expect(clock.pending).toBe(0)
  })

  it("answers 401 without the app's user and 404 for another user's connection", async () => {
    const { call, store } = await setup()
    const bobs = await store.add({ userId: 'bob', exchange: 'binance', credentials: KEYS })
    const anonymous = await call('GET', '/connections', { user: null })
    expect(anonymous.status).toBe(401)
    expect(anonymous.json.error.code).toBe('UNAUTHORIZED')
    const theirs = await call('GET', `/connections/${bobs.id}`)
    const missing = await call('GET', '/connections/no-such-id')
    expect(theirs.status).toBe(404)
    expect(theirs.text).toBe(missing.text)
    expect((await call('DELETE', `/connections/${bobs.id}`)).status).toBe(404)
    expect(await store.get(bobs.id)).not.toBeNull()
  })

  it('works under any mount path, nested routers included, and leaves other paths to the app', async () => {
    const { origin, store } = await setup({
      mount: (app, router) => {
        const outer = express.Router()
        outer.use('/v1/balances', router)
        app.use('/deep', outer)
      },
    })
    await store.add({ userId: 'alice', exchange: 'binance', credentials: KEYS })
    const inside = await fetch(`${origin}/deep/v1/balances/connections`, { headers: { 'x-user': 'alice' } })
    expect(inside.status).toBe(200)
    expect((await inside.json()).connections).toHaveLength(1)
    const unknown = await fetch(`${origin}/deep/v1/balances/nope`, { headers: { 'x-user': 'alice' } })
    expect((await unknown.json()).error.code).toBe('NOT_FOUND')
    const outside = await fetch(`${origin}/api/syncfolio/connections`, { headers: { 'x-user': 'alice' } })
    expect(await outside.text()).toBe('app fallthrough')
    const doubleSlash = await fetch(`${origin}/deep/v1/balances//connections`, { headers: { 'x-user': 'alice' } })
    expect(doubleSlash.status).toBe(404)
  })

  it('answers hostile bodies like the core handler and stores nothing', async () => {
    const { call, store, binance, base } = await setup()
    const malformed = await call('POST', '/connections', { body: `{"credentials":{"secret":"${KEYS.secret}"` })
    expect(malformed.status).toBe(400)
    expect(malformed.text).not.toContain(KEYS.secret)
    const wrongType = await call('POST', '/connections', { body: { exchange: 'binance', credentials: { apiKey: 1 } } })
    expect(wrongType.status).toBe(400)
    expect(wrongType.json.error.issues.length).toBeGreaterThan(0)
    const unknown = await call('POST', '/connections', { body: { exchange: 'kraken', credentials: KEYS } })
    expect(unknown.status).toBe(400)
    const text = await fetch(`${base}/connections`, {
      method: 'POST',
      headers: { 'x-user': 'alice', 'content-type': 'text/plain' },
      body: JSON.stringify({ exchange: 'binance', credentials: KEYS }),
    })
    expect(text.status).toBe(415)
    expect(await store.listByUser('alice')).toEqual([])
    expect(binance.calls).toHaveLength(0)
  })

  it('cuts off a huge streamed body with 413 while reading, and keeps serving', async () => {
    const { base, store } = await setup({ router: { maxBodyBytes: 8_192 } })
    let sent = 0
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        sent += 4_096
        if (sent > 4 * 1024 * 1024) return controller.close()
        controller.enqueue(new TextEncoder().encode(' '.repeat(4_096)))
      },
    })
    const response = await fetch(`${base}/connections`, {
      method: 'POST',
      headers: { 'x-user': 'alice', 'content-type': 'application/json' },
      body: endless,
      duplex: 'half',
    } as RequestInit)
    expect(response.status).toBe(413)
    expect((await response.json()).error.code).toBe('PAYLOAD_TOO_LARGE')

    const declared = await rawPost(base, '/connections', 'x'.repeat(20_000))
    expect(declared.status).toBe(413)
    const afterwards = await fetch(`${base}/connections`, { headers: { 'x-user': 'alice' } })
    expect(afterwards.status).toBe(200)
    expect(await store.listByUser('alice')).toEqual([])
  })

  it('accepts a body an app-wide express.json() already parsed', async () => {
    const { call, store } = await setup({ before: (app) => app.use(express.json()) })
    const added = await call('POST', '/connections', { body: { exchange: 'binance', credentials: KEYS } })
    expect(added.status).toBe(201)
    expect(await store.getCredentials(added.json.connection.id)).toEqual(KEYS)
    const invalid = await call('POST', '/connections', { body: { exchange: 'binance' } })
    expect(invalid.status).toBe(400)
    expect(invalid.json.error.issues[0].path).toEqual(['credentials'])
  })

  it('answers 500 in JSON when resolveUser rejects, without its details', async () => {
    const errors: unknown[] = []
    const { call } = await setup({
      router: {
        resolveUser: async () => {
          throw new Error('session db at 10.9.8.7 down')
        },
        onError: (error) => errors.push(error),
      },
    })
    const response = await call('GET', '/connections')
    expect(response.status).toBe(500)
    expect(response.json.error.code).toBe('INTERNAL')
    expect(response.text).not.toContain('10.9.8.7')
    expect(errors).toHaveLength(1)
  })

  it('validates its options, naming the field', async () => {
    const { store, scheduler } = await setup()
    const base = { store, scheduler }
    expect(() => syncfolioRouter({ ...base } as never)).toThrow(InvalidOptionError)
    expect(() => syncfolioRouter({ ...base } as never)).toThrow(/"resolveUser"/)
    expect(() => syncfolioRouter({ ...base, resolveUser: userOf, basePath: '/api' } as never)).toThrow(/"basePath"/)
    expect(() => syncfolioRouter({ ...base, resolveUser: userOf, maxBodyBytes: -1 })).toThrow(/"maxBodyBytes"/)
  })
})

describe('syncfolioRouter GET /health', () => {
  /** The app's auth, counted: a probe must never reach it. */
  const auth = () =>
    vi.fn((_req: ExpressRequest): string | null => {
      throw new Error('the app auth must not run for /health')
    })

  it("serves the scheduler's health under the mount path without consulting the app's auth", async () => {
    const resolveUser = auth()
    const { call, scheduler, store } = await setup({ router: { resolveUser } })
    await store.add({ userId: 'alice', exchange: 'binance', credentials: KEYS })
    await scheduler.runOnce()
    const health = await call('GET', '/health', { user: null })
    expect(health.status).toBe(200)
    expect(health.headers.get('cache-control')).toBe('no-store')
    expect(health.json).toEqual(scheduler.health())
    expect(health.json.exchanges.binance.lastSweepAt).not.toBeNull()
    expect(health.text).not.toMatch(/alice|AK-express|SK-express/)
    expect((await call('POST', '/health')).headers.get('allow')).toBe('GET')
    expect(resolveUser).not.toHaveBeenCalled()
  })

  it('answers 503 while the store fails, and 200 again once it answers', async () => {
    const resolveUser = auth()
    const { call, scheduler, store } = await setup({ router: { resolveUser } })
    const listDue = store.listDue.bind(store)
    store.listDue = () => Promise.reject(new Error('connect ECONNREFUSED postgres://app:hunter2@db/prod'))
    scheduler.on('error', () => {})
    await scheduler.runOnce()
    const failing = await call('GET', '/health')
    expect(failing.status).toBe(503)
    expect(failing.json).toMatchObject({ ok: false, store: { ok: false } })
    expect(failing.text).not.toContain('hunter2')
    store.listDue = listDue
    await scheduler.runOnce()
    expect((await call('GET', '/health')).status).toBe(200)
    expect(resolveUser).not.toHaveBeenCalled()
  })
})

describe('syncfolioRouter events', () => {
  it("streams the user's sync events and heartbeats as they happen", async () => {
    const { base, store, scheduler, clock } = await setup()
    const alices = await store.add({ userId: 'alice', exchange: 'binance', credentials: KEYS })
    const bobs = await store.add({ userId: 'bob', exchange: 'binance', credentials: KEYS })
    const controller = new AbortController()
    const response = await fetch(`${base}/events`, { headers: { 'x-user': 'alice' }, signal: controller.signal })
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
    expect(response.headers.get('x-accel-buffering')).toBe('no')
    const reader = (response.body as ReadableStream<Uint8Array>).getReader()
    const decoder = new TextDecoder()
    let text = ''
    const readUntil = async (pattern: RegExp) => {
      while (!pattern.test(text)) {
        const { done, value } = await reader.read()
        if (done) throw new Error(`stream ended before ${pattern}`)
        text += decoder.decode(value, { stream: true })
      }
    }
    await readUntil(/: connected\n\n/)
    await scheduler.syncNow(bobs.id)
    await scheduler.syncNow(alices.id)
    await readUntil(/event: sync:success\n/)
    expect(text).toContain(`"connectionId":"${alices.id}"`)
    expect(text).not.toContain(bobs.id)
    await clock.advance(15_000)
    await readUntil(/: heartbeat\n\n/)
    controller.abort()
  })

  it('removes its scheduler listeners and heartbeat when the client disconnects', async () => {
    const { base, scheduler, clock } = await setup()
    const on = vi.spyOn(scheduler, 'on')
    const off = vi.spyOn(scheduler, 'off')
    const controller = new AbortController()
    const response = await fetch(`${base}/events`, { headers: { 'x-user': 'alice' }, signal: controller.signal })
    const reader = (response.body as ReadableStream<Uint8Array>).getReader()
    await reader.read()
    expect(on).toHaveBeenCalledTimes(4)
    expect(clock.pending).toBe(1)
    controller.abort()
    await vi.waitFor(() => expect(off).toHaveBeenCalledTimes(4))
    expect(off.mock.calls.map(([, listener]) => listener)).toEqual(on.mock.calls.map(([, listener]) => listener))
    expect(clock.pending).toBe(0)
  })

  it('feeds the browser client: createSyncClient().events() over real HTTP', async () => {
    const { base, store, scheduler } = await setup()
    const connection = await store.add({ userId: 'alice', exchange: 'binance', credentials: KEYS })
    const on = vi.spyOn(scheduler, 'on')
    const client = createSyncClient({ baseUrl: base, headers: { 'x-user': 'alice' } })
    const controller = new AbortController()
    const received: SyncEvent[] = []
    const done = (async () => {
      for await (const event of client.events({ signal: controller.signal })) {
        received.push(event)
        if (event.type === 'sync:success') controller.abort()
      }
    })()
    // Sync once the server has subscribed the stream, so the event cannot pass before it.
    await vi.waitFor(() => expect(on).toHaveBeenCalledTimes(4))
    await scheduler.syncNow(connection.id)
    await done
    expect(received.find((event) => event.type === 'sync:success')).toMatchObject({
      connectionId: connection.id,
      exchange: 'binance',
    })
  })
})

/** A POST with a Content-Length larger than the limit, over a raw socket so nothing rewrites the header. */
function rawPost(base: string, path: string, body: string): Promise<{ status: number }> {
  return new Promise((resolve, reject) => {
    const url = new URL(`${base}${path}`)
    const request = httpRequest(
      url,
      {
        method: 'POST',
        headers: { 'x-user': 'alice', 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (response) => {
        response.resume()
        resolve({ status: response.statusCode ?? 0 })
      },
    )
    request.on('error', reject)
    request.end(body)
  })
}

/** One request on `agent`, the body written whole; resolves with the status and body once the answer ends. */
function send(
  agent: Agent,
  url: string,
  init: { method: string; headers?: Record<string, string>; body?: string },
): Promise<{ status: number; text: string; reusedSocket: boolean }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method: init.method, headers: init.headers, agent }, (response) => {
      let text = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => {
        text += chunk
      })
      response.on('end', () => resolve({ status: response.statusCode ?? 0, text, reusedSocket: request.reusedSocket }))
    })
    request.on('error', reject)
    request.end(init.body)
  })
}

describe('syncfolioRouter under hostile requests', () => {
  it('answers 5,000 nested arrays behind express.json() with a 400 problem, never a stack', async () => {
    const errors: unknown[] = []
    const { call } = await setup({
      before: (app) => app.use(express.json()),
      router: { onError: (error) => errors.push(error) },
    })
    for (const body of [
      `${'['.repeat(5_000)}${']'.repeat(5_000)}`,
      `{"exchange":"binance","credentials":${'['.repeat(5_000)}${']'.repeat(5_000)}}`,
    ]) {
      const response = await call('POST', '/connections', { body })
      expect(response.status).toBe(400)
      expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8')
      expect(response.json.error.code).toBe('INVALID_JSON')
      expect(response.text).not.toMatch(/RangeError|stack|\.ts:|<html/i)
    }
    expect(errors).toEqual([])
  })

  it('keeps a keep-alive connection usable after answering before a 300 KB body was read', async () => {
    const { base, store } = await setup({ router: { addConnectionLimit: 1 } })
    const connection = await store.add({ userId: 'alice', exchange: 'binance', credentials: KEYS })
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    const upload = 'x'.repeat(300 * 1024)
    const json = { 'content-type': 'application/json', 'x-user': 'alice' }
    const early: { method: string; path: string; headers: Record<string, string>; status: number }[] = [
      { method: 'POST', path: '/connections', headers: { 'content-type': 'application/json' }, status: 401 },
      { method: 'POST', path: '/nowhere', headers: json, status: 404 },
      { method: 'PUT', path: '/connections', headers: json, status: 405 },
      { method: 'PUT', path: `/connections/${connection.id}/credentials`, headers: { 'x-user': 'alice' }, status: 415 },
    ]
    try {
      // Use up the one attempt per window, so the next POST /connections is refused before its body is read.
      const first = await send(agent, `${base}/connections`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ exchange: 'binance', credentials: KEYS }),
      })
      expect(first.status).toBe(201)
      early.push({ method: 'POST', path: '/connections', headers: json, status: 429 })
      for (const { method, path, headers, status } of early) {
        const answered = await send(agent, `${base}${path}`, { method, headers, body: upload })
        expect(answered.status, `${method} ${path}`).toBe(status)
        const next = await send(agent, `${base}/exchanges`, { method: 'GET', headers: { 'x-user': 'alice' } })
        expect(next.status, `after ${method} ${path}`).toBe(200)
        expect(next.reusedSocket).toBe(true)
      }
    } finally {
      agent.destroy()
    }
  })

  it('ends open event streams cleanly on close(), after a whole event, and refuses to hold new ones open', async () => {
    const { base, router } = await setup()
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      httpRequest(`${base}/events`, { headers: { 'x-user': 'alice' } }, resolve)
        .on('error', reject)
        .end()
    })
    expect(response.statusCode).toBe(200)
    let text = ''
    response.setEncoding('utf8')
    const ended = new Promise<'end' | 'aborted'>((resolve) => {
      response.on('data', (chunk: string) => {
        text += chunk
        if (text.includes(': connected\n\n')) router.close()
      })
      response.on('end', () => resolve('end'))
      response.on('aborted', () => resolve('aborted'))
      response.on('error', () => resolve('aborted'))
    })
    expect(await ended).toBe('end')
    expect(response.complete).toBe(true)
    expect(text.endsWith('\n\n')).toBe(true)

    const later = await fetch(`${base}/events`, { headers: { 'x-user': 'alice' } })
    expect(later.status).toBe(200)
    expect(await later.text()).toMatch(/\n\n$|^$/)
  })

  it('names syncfolioRouter and the exact key in an option error, whatever the handler checks', async () => {
    const { store, scheduler } = await setup()
    const attempt = () =>
      syncfolioRouter({ store, scheduler, resolveUser: userOf, exchanges: [] } as unknown as SyncfolioRouterOptions)
    expect(attempt).toThrow(InvalidOptionError)
    expect(attempt).toThrow('syncfolioRouter: option "exchanges" is invalid')
    expect(attempt).not.toThrow(/createSyncHandler|\(options\)/)
    expect(() => syncfolioRouter({ store, scheduler, resolveUser: userOf, heartbeatMs: 0 })).toThrow(
      'syncfolioRouter: option "heartbeatMs"',
    )
  })

  it('types resolveUser so the documented line compiles under strict TypeScript', async () => {
    const { store, scheduler, base } = await setup()
    // Exactly as the docs write it; `tsc -b` checks this file in strict mode.
    const router = syncfolioRouter({ scheduler, store, resolveUser: (req) => req.user?.id ?? null })
    const app = express()
    app.use((req, _res, next) => {
      ;(req as ExpressRequest & { user?: { id: string } }).user = { id: 'alice' }
      next()
    })
    app.use('/api', router)
    const server = app.listen(0, '127.0.0.1')
    servers.push(server)
    await once(server, 'listening')
    const port = (server.address() as AddressInfo).port
    const response = await fetch(`http://127.0.0.1:${port}/api/connections`)
    expect(response.status).toBe(200)
    expect(base).toContain('/api/syncfolio')
  })
})

describe('syncfolioRouter for a UI on another origin', () => {
  const UI = 'http://ui.example.test:5173'

  it('works behind the cors package, the preflight included', async () => {
    const cors = (await import('cors')).default
    const { base, call, store } = await setup({
      mount: (app, router) => app.use('/api/syncfolio', cors({ origin: UI, credentials: true }), router),
    })
    const preflight = await fetch(`${base}/connections`, {
      method: 'OPTIONS',
      headers: {
        origin: UI,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,x-user',
      },
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('access-control-allow-origin')).toBe(UI)
    expect(preflight.headers.get('access-control-allow-credentials')).toBe('true')
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST')
    expect(preflight.headers.get('access-control-allow-headers')).toBe('content-type,x-user')

    const response = await fetch(`${base}/connections`, {
      method: 'POST',
      headers: { origin: UI, 'x-user': 'alice', 'content-type': 'application/json' },
      body: JSON.stringify({ exchange: 'binance', credentials: KEYS }),
    })
    expect(response.status).toBe(201)
    // The router keeps the headers middleware set before it.
    expect(response.headers.get('access-control-allow-origin')).toBe(UI)
    expect(response.headers.get('access-control-allow-credentials')).toBe('true')
    expect(await store.listByUser('alice')).toHaveLength(1)
    expect((await call('GET', '/connections', { user: null })).status).toBe(401)
  })

  it('works through the Vite dev server proxy, event stream included', async () => {
    const { createServer } = await import('vite')
    const { origin, store, scheduler } = await setup()
    const connection = await store.add({ userId: 'alice', exchange: 'binance', credentials: KEYS })
    const root = mkdtempSync(join(tmpdir(), 'syncfolio-vite-'))
    const vite = await createServer({
      configFile: false,
      root,
      logLevel: 'silent',
      server: { host: '127.0.0.1', port: 0, proxy: { '/api': { target: origin } } },
    })
    await vite.listen()
    try {
      const ui = `http://127.0.0.1:${(vite.httpServer?.address() as AddressInfo | undefined)?.port}`
      const listed = await fetch(`${ui}/api/syncfolio/connections`, { headers: { 'x-user': 'alice' } })
      expect(listed.status).toBe(200)
      expect((await listed.json()).connections.map((entry: { id: string }) => entry.id)).toEqual([connection.id])

      const controller = new AbortController()
      const events = await fetch(`${ui}/api/syncfolio/events`, {
        headers: { 'x-user': 'alice' },
        signal: controller.signal,
      })
      expect(events.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
      const reader = (events.body as ReadableStream<Uint8Array>).getReader()
      const decoder = new TextDecoder()
      let text = ''
      while (!text.includes(': connected\n\n')) text += decoder.decode((await reader.read()).value)
      await scheduler.syncNow(connection.id)
      while (!text.includes('event: sync:success\n')) text += decoder.decode((await reader.read()).value)
      expect(text).toContain(connection.id)
      controller.abort()
    } finally {
      await vite.close()
      rmSync(root, { recursive: true, force: true })
    }
  })
})

describe('syncfolioRouter over a BullmqScheduler', () => {
  it('serves a manual sync that a worker of the cluster runs, and the sync events with the worker named', async () => {
    // Throws (never skips) without a redis-server.
    const redis = await startRedis()
    const store = new MemoryStore()
    const binance = recordingAdapter('binance', () => ({
      balances: [{ asset: 'ETH', free: '2', used: '0', total: '2' }],
    }))
    const connection = await store.add({ userId: 'alice', exchange: 'binance', credentials: KEYS })
    // Synced a moment ago: only the manual sync below runs it.
    const now = Date.now()
    await store.recordSuccess(connection.id, {
      balances: [],
      startedAt: now - 1,
      finishedAt: now,
      nextSyncAt: now + 3_600_000,
    })
    const options = { redis: { host: redis.host, port: redis.port }, prefix: 'express-cluster', store }
    const exchanges = [binance]
    const limits = { binance: { budgets: [] } }
    const worker = new BullmqScheduler({ ...options, exchanges, limits, role: 'worker', workerId: 'worker-a' })
    const api = new BullmqScheduler({ ...options, exchanges, limits, role: 'api', workerId: 'api-1' })
    try {
      worker.start()
      api.start()
      const { base } = await setup({ router: { scheduler: api, store } })
      const client = createSyncClient({ baseUrl: base, headers: { 'x-user': 'alice' } })
      const on = vi.spyOn(api, 'on')
      const controller = new AbortController()
      const events: SyncEvent[] = []
      const done = (async () => {
        for await (const event of client.events({ signal: controller.signal })) {
          events.push(event)
          if (event.type === 'sync:success') controller.abort()
        }
      })()
      // Sync once the server has subscribed the stream, so the event cannot pass before it.
      await vi.waitFor(() => expect(on).toHaveBeenCalledTimes(4))
      const response = await fetch(`${base}/connections/${connection.id}/sync`, {
        method: 'POST',
        headers: { 'x-user': 'alice' },
      })
      expect(response.status).toBe(200)
      expect(await response.json()).toMatchObject({ outcome: 'success', balances: [{ asset: 'ETH', total: '2' }] })
      expect(binance.calls).toHaveLength(1)
      await done
      expect(events.filter((event) => event.type !== 'sync:start')).toEqual([
        expect.objectContaining({ type: 'sync:success', connectionId: connection.id, worker: 'worker-a' }),
      ])
    } finally {
      await Promise.all([worker.stop({ timeoutMs: 1_000 }), api.stop({ timeoutMs: 1_000 })])
      await redis.stop()
    }
  })
})
