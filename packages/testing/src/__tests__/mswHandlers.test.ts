import { existsSync, readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { InvalidOptionError } from '@syncfolio/core'
import ccxt from 'ccxt'
import { setupServer } from 'msw/node'
import ts from 'typescript'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createFakeExchange } from '../fakeExchange/fakeExchange.js'
import { EXCHANGE_ORIGINS, fakeExchangeHandlers } from '../msw/fakeExchangeHandlers.js'

const BINANCE = { exchange: 'binance' as const, apiKey: 'msw-binance-key', secret: 'msw-binance-secret' }
const OKX = { exchange: 'okx' as const, apiKey: 'msw-okx-key', secret: 'msw-okx-secret', password: 'msw-okx-pass' }

const exchange = createFakeExchange({
  accounts: [
    { ...BINANCE, balances: [{ asset: 'BTC', free: '0.5', used: '0.25' }] },
    { ...OKX, balances: [{ asset: 'ETH', free: '3' }] },
  ],
})
const server = setupServer(
  ...fakeExchangeHandlers(exchange),
  ...fakeExchangeHandlers(exchange, { origins: ['https://fake-exchange.test'] }),
)
// ccxt reaches msw only through a fetch it is given; its default client (undici.request) bypasses msw.
const viaFetch = { fetchImplementation: (url: string, init: RequestInit) => fetch(url, init), enableRateLimit: false }

beforeAll(() => server.listen({ onUnhandledRequest: 'error' }))
afterEach(() => {
  exchange.clearFaults()
  exchange.clearRequests()
})
afterAll(() => server.close())

describe('fakeExchangeHandlers', () => {
  it("answers real ccxt on the exchanges' real hosts, with no network and no repointing", async () => {
    const binance = new ccxt.binance({ ...viaFetch, apiKey: BINANCE.apiKey, secret: BINANCE.secret })
    const okx = new ccxt.okx({ ...viaFetch, apiKey: OKX.apiKey, secret: OKX.secret, password: OKX.password })

    const binanceTotals = (await binance.fetchBalance()).total as unknown as Record<string, number>
    const okxTotals = (await okx.fetchBalance()).total as unknown as Record<string, number>

    expect(binanceTotals.BTC).toBe(0.75)
    expect(okxTotals.ETH).toBe(3)
    const last = exchange.requests.filter((request) => request.apiKey !== null).map((request) => request.path)
    expect(last).toContain('/api/v3/account')
    expect(last).toContain('/api/v5/account/balance')
    expect(EXCHANGE_ORIGINS).toContain('https://api.binance.com')
  })

  it('checks signatures exactly as the server does', async () => {
    const binance = new ccxt.binance({ ...viaFetch, apiKey: BINANCE.apiKey, secret: 'not-the-secret' })
    binance.setMarkets([])
    await expect(binance.fetchBalance()).rejects.toMatchObject({ name: 'AuthenticationError' })
    expect(exchange.requests.at(-1)).toMatchObject({ path: '/api/v3/account', status: 400, code: '-1022' })
  })

  it('shares the faults, limits and request log of the FakeExchange', async () => {
    const okx = new ccxt.okx({ ...viaFetch, apiKey: OKX.apiKey, secret: OKX.secret, password: OKX.password })
    okx.setMarkets([])
    exchange.inject({ type: 'maintenance' }, { apiKey: OKX.apiKey, times: 1 })
    await expect(okx.fetchBalance()).rejects.toMatchObject({ name: 'OnMaintenance' })
    exchange.inject({ type: 'disconnect' }, { times: 1 })
    await expect(okx.fetchBalance()).rejects.toMatchObject({ name: 'NetworkError' })
    expect((await okx.fetchBalance()).total).toEqual({ ETH: 3 })
    expect(exchange.requests.map((request) => [request.status, request.fault])).toEqual([
      [503, 'maintenance'],
      [0, 'disconnect'],
      [200, null],
    ])
  })

  it('holds a hung request until the client aborts it', async () => {
    exchange.inject({ type: 'hang' }, { times: 1 })
    const controller = new AbortController()
    const pending = fetch('https://api.binance.com/api/v3/ping', { signal: controller.signal })
    await new Promise((resolve) => setTimeout(resolve, 30))
    expect(exchange.requests).toHaveLength(0)
    controller.abort()
    await expect(pending).rejects.toThrow()
    await new Promise((resolve) => setTimeout(resolve, 30))
    expect(exchange.requests).toEqual([expect.objectContaining({ path: '/api/v3/ping', status: 0, fault: 'hang' })])
  })

  it('answers on extra origins for ccxt pointed elsewhere', async () => {
    const response = await fetch('https://fake-exchange.test/api/v3/ping')
    expect(response.status).toBe(200)
    expect(exchange.requests).toHaveLength(1)
  })

  it('refuses origins that are not URLs, naming the option', () => {
    expect(() => fakeExchangeHandlers(exchange, { origins: ['not a url'] })).toThrow(InvalidOptionError)
    expect(() => fakeExchangeHandlers(exchange, { origins: [] })).toThrow(/"origins"/)
  })
})

describe('the @syncfolio/testing entry', () => {
  it('never imports msw: only the ./msw subpath does', () => {
    const src = resolve(dirname(fileURLToPath(import.meta.url)), '..')
    const external = new Set<string>()
    const seen = new Set<string>()
    const queue = [resolve(src, 'index.ts')]
    while (queue.length > 0) {
      const file = queue.pop() as string
      if (seen.has(file)) continue
      seen.add(file)
      for (const { fileName } of ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles) {
        if (!fileName.startsWith('.')) external.add(fileName.split('/')[0] as string)
        else queue.push(resolve(dirname(file), fileName.replace(/\.js$/, '.ts')))
      }
    }
    expect([...seen].every((file) => existsSync(file))).toBe(true)
    expect(seen.has(resolve(src, 'fakeExchange/startFakeExchange.ts'))).toBe(true)
    expect(external.has('msw')).toBe(false)
    const pkg = JSON.parse(readFileSync(resolve(src, '../package.json'), 'utf8')) as {
      exports: Record<string, Record<string, unknown>>
      peerDependenciesMeta: Record<string, { optional?: boolean }>
    }
    expect(pkg.exports['./msw']?.['@syncfolio/source']).toBe('./src/msw/index.ts')
    expect(pkg.peerDependenciesMeta.msw?.optional).toBe(true)
  })
})
