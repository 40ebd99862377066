import { SyncError } from '@syncfolio/core'
import { describe, expect, it } from 'vitest'
import { binanceDialect } from '../binanceDialect.js'
import type { CcxtInstance } from '../ccxtInstance.js'
import { genericDialect } from '../genericDialect.js'
import { okxDialect } from '../okxDialect.js'

/** ccxt maps a few exchange ids to common codes (XBT -> BTC); the dialects go through it. */
const instance = {
  safeCurrencyCode: (id: string) => (id === 'XBT' ? 'BTC' : id.toUpperCase()),
} as unknown as CcxtInstance

function invalid(run: () => unknown): SyncError {
  try {
    run()
  } catch (error) {
    expect(error).toBeInstanceOf(SyncError)
    expect((error as SyncError).code).toBe('INVALID_RESPONSE')
    return error as SyncError
  }
  throw new Error('expected INVALID_RESPONSE')
}

describe('binanceDialect.parse', () => {
  it('reads free and locked as sent, totals them exactly, drops zeros and merges ids that map to one code', () => {
    const balances = binanceDialect.parse(
      {
        balances: [
          { asset: 'BTC', free: '98765432.12345678', locked: '0.00000002' },
          { asset: 'XBT', free: '1.00000000', locked: '0.00000000' },
          { asset: 'ETH', free: '0.00000000', locked: '0.00000000' },
          { asset: 'USDT', free: 10, locked: '0.5' },
        ],
      },
      instance,
    )
    expect(balances).toEqual([
      { asset: 'BTC', free: '98765433.12345678', used: '0.00000002', total: '98765433.12345680' },
      { asset: 'USDT', free: '10', used: '0.5', total: '10.5' },
    ])
  })

  it('refuses shapes Binance never sends, naming the field', () => {
    expect(invalid(() => binanceDialect.parse({ code: -1 }, instance)).message).toMatch(/"balances" array/)
    expect(invalid(() => binanceDialect.parse('<html>', instance)).message).toMatch(/"balances" array/)
    expect(
      invalid(() => binanceDialect.parse({ balances: [{ asset: 'BTC', free: 'x', locked: '0' }] }, instance)).message,
    ).toMatch(/balances\[0\]\.free/)
    invalid(() => binanceDialect.parse({ balances: [{ free: '1', locked: '0' }] }, instance))
  })

  it('reads the exchange code and the used weight', () => {
    expect(binanceDialect.errorCode('{"code":-2015,"msg":"Invalid API-key"}')).toBe('-2015')
    expect(binanceDialect.errorCode('<html>')).toBeUndefined()
    const headers = new Headers({ 'X-MBX-USED-WEIGHT-1M': '120' })
    expect(binanceDialect.usedWeight({ status: 200, headers })).toBe(120)
    expect(binanceDialect.usedWeight({ status: 200, headers: new Headers() })).toBeUndefined()
  })
})

describe('okxDialect.parse', () => {
  it("takes eq as total, availEq (when OKX fills it) or availBal as free, and OKX's own frozenBal as used", () => {
    const balances = okxDialect.parse(
      {
        code: '0',
        data: [
          {
            details: [
              {
                ccy: 'BTC',
                eq: '1.000000000001',
                cashBal: '1.000000000001',
                availBal: '1',
                availEq: '',
                frozenBal: '0.000000000001',
              },
              { ccy: 'ETH', eq: '5.5', availBal: '5', availEq: '5.25', frozenBal: '0.5' },
              { ccy: 'SOL', eq: '0', availBal: '0', availEq: '', frozenBal: '0' },
            ],
          },
        ],
      },
      instance,
    )
    expect(balances).toEqual([
      { asset: 'BTC', free: '1', used: '0.000000000001', total: '1.000000000001' },
      { asset: 'ETH', free: '5.25', used: '0.5', total: '5.5' },
    ])
  })

  it('refuses shapes OKX never sends', () => {
    invalid(() => okxDialect.parse({ code: '0' }, instance))
    invalid(() => okxDialect.parse({ code: '1', data: [] }, instance))
    invalid(() => okxDialect.parse({ code: '0', data: [{ details: 'x' }] }, instance))
    expect(
      invalid(() =>
        okxDialect.parse({ code: '0', data: [{ details: [{ ccy: 'BTC', eq: '', availBal: '1' }] }] }, instance),
      ).message,
    ).toMatch(/details\[0\]\.eq/)
  })

  it('reads the code of a batch item first', () => {
    expect(okxDialect.errorCode('{"code":"1","data":[{"sCode":"50011"}]}')).toBe('50011')
    expect(okxDialect.errorCode('{"code":"50113","msg":"Invalid Sign"}')).toBe('50113')
  })
})

describe('genericDialect.parse', () => {
  const dialect = genericDialect('kraken')

  it('turns ccxt floats into plain decimal strings and fills what ccxt left out', () => {
    const balances = dialect.parse(
      {
        info: {},
        free: { BTC: 1e-7, ETH: 2, USD: undefined },
        used: { BTC: 0, ETH: 0.5 },
        total: { BTC: 1e-7, ETH: 2.5, USD: 100, DOGE: 0 },
      },
      instance,
    )
    expect(balances).toEqual([
      { asset: 'BTC', free: '0.0000001', used: '0', total: '0.0000001' },
      { asset: 'ETH', free: '2', used: '0.5', total: '2.5' },
      { asset: 'USD', free: '100', used: '0', total: '100' },
    ])
  })

  it('refuses a result without totals', () => {
    invalid(() => dialect.parse({ info: {} }, instance))
    invalid(() => dialect.parse(null, instance))
  })
})
