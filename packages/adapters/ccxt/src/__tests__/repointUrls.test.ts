import ccxt from 'ccxt'
import { describe, expect, it } from 'vitest'
import type { CcxtInstance } from '../ccxtInstance.js'
import { repointUrls } from '../repointUrls.js'

function urlsOf(value: unknown): string[] {
  if (typeof value === 'string') return [value]
  if (typeof value === 'object' && value !== null) return Object.values(value).flatMap(urlsOf)
  return []
}

describe('repointUrls', () => {
  it("points every one of Binance's API hosts at the base URL and keeps each path", () => {
    const binance = new ccxt.binance() as unknown as CcxtInstance
    const before = urlsOf(binance.urls.api)
    repointUrls(binance, 'http://127.0.0.1:4000/')
    const after = urlsOf(binance.urls.api)
    expect(after).toHaveLength(before.length)
    expect(after.every((url) => url.startsWith('http://127.0.0.1:4000/'))).toBe(true)
    expect((binance.urls.api as Record<string, string>).private).toBe('http://127.0.0.1:4000/api/v3')
    expect((binance.urls.api as Record<string, string>).fapiPublic).toBe('http://127.0.0.1:4000/fapi/v1')
    expect((binance.urls.api as Record<string, string>).sapi).toBe('http://127.0.0.1:4000/sapi/v1')
  })

  it("fills OKX's {hostname} template, and keeps a path prefix of the base URL (a proxy)", () => {
    const okx = new ccxt.okx() as unknown as CcxtInstance
    repointUrls(okx, 'https://proxy.example/okx')
    expect((okx.urls.api as Record<string, string>).rest).toBe('https://proxy.example/okx')
  })

  it('changes only that instance', () => {
    const first = new ccxt.binance() as unknown as CcxtInstance
    const second = new ccxt.binance() as unknown as CcxtInstance
    repointUrls(first, 'http://127.0.0.1:4000')
    expect((second.urls.api as Record<string, string>).private).toBe('https://api.binance.com/api/v3')
    expect((new ccxt.binance().urls.api as Record<string, string>).private).toBe('https://api.binance.com/api/v3')
  })
})
