import { createHmac } from 'node:crypto'
import { InvalidOptionError } from '@syncfolio/core'
import ccxt from 'ccxt'
import { afterEach, describe, expect, it } from 'vitest'
import { FakeClock } from '../fakeClock.js'
import { createFakeExchange } from '../fakeExchange/fakeExchange.js'
import type { FakeExchangeOptions } from '../fakeExchange/options.js'
import { type FakeExchangeServer, startFakeExchange } from '../fakeExchange/startFakeExchange.js'

const BINANCE = { exchange: 'binance' as const, apiKey: 'binance-key-1', secret: 'binance-secret-1' }
const OKX = { exchange: 'okx' as const, apiKey: 'okx-key-1', secret: 'okx-secret-1', password: 'okx-pass-1' }

const servers: FakeExchangeServer[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()))
})

async function start(options: FakeExchangeOptions = {}): Promise<FakeExchangeServer> {
  const server = await startFakeExchange(options)
  servers.push(server)
  return server
}

/** A Binance signed GET exactly as Binance documents it: HMAC-SHA256 hex of the query, appended last. */
function binanceGet(
  fake: FakeExchangeServer,
  path: string,
  {
    apiKey = BINANCE.apiKey,
    secret = BINANCE.secret,
    timestamp = Date.now(),
    params = {} as Record<string, string>,
  } = {},
) {
  const query = new URLSearchParams({ ...params, timestamp: String(timestamp), recvWindow: '5000' }).toString()
  const signature = createHmac('sha256', secret).update(query).digest('hex')
  return fetch(`${fake.url}${path}?${query}&signature=${signature}`, { headers: { 'X-MBX-APIKEY': apiKey } })
}

/** An OKX private GET: base64 HMAC-SHA256 of timestamp + method + path + query. */
function okxGet(
  fake: FakeExchangeServer,
  pathAndQuery: string,
  {
    apiKey = OKX.apiKey,
    secret = OKX.secret,
    password = OKX.password,
    timestamp = new Date().toISOString(),
  }: { apiKey?: string; secret?: string; password?: string; timestamp?: string } = {},
) {
  const sign = createHmac('sha256', secret).update(`${timestamp}GET${pathAndQuery}`).digest('base64')
  return fetch(`${fake.url}${pathAndQuery}`, {
    headers: {
      'OK-ACCESS-KEY': apiKey,
      'OK-ACCESS-SIGN': sign,
      'OK-ACCESS-TIMESTAMP': timestamp,
      'OK-ACCESS-PASSPHRASE': password,
    },
  })
}

async function json(response: Response): Promise<Record<string, unknown>> {
  return (await response.json()) as Record<string, unknown>
}

describe('startFakeExchange', () => {
  it('listens on 127.0.0.1 on a free port and serves both exchanges under one url', async () => {
    const fake = await start()
    expect(fake.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(fake.port).toBeGreaterThan(0)
    expect(await json(await fetch(`${fake.url}/api/v3/ping`))).toEqual({})
    expect((await json(await fetch(`${fake.url}/api/v5/public/time`))).code).toBe('0')
  })

  it('answers everything real ccxt asks for on loadMarkets and fetchBalance, for Binance and OKX', async () => {
    const fake = await start({
      accounts: [
        { ...BINANCE, balances: [{ asset: 'BTC', free: '1.5', used: '0.25' }] },
        { ...OKX, balances: [{ asset: 'ETH', free: '2', used: '0.5' }] },
      ],
    })
    const repoint = (exchange: { urls: Record<string, unknown> }) => {
      const walk = (value: unknown): unknown =>
        typeof value === 'string'
          ? value.replace('{hostname}', 'www.okx.com').replace(/^https:\/\/[^/]+/, fake.url)
          : Object.fromEntries(Object.entries(value as object).map(([key, entry]) => [key, walk(entry)]))
      exchange.urls = { ...exchange.urls, api: walk(exchange.urls.api) }
    }
    const binance = new ccxt.binance({ apiKey: BINANCE.apiKey, secret: BINANCE.secret, enableRateLimit: false })
    const okx = new ccxt.okx({ apiKey: OKX.apiKey, secret: OKX.secret, password: OKX.password, enableRateLimit: false })
    repoint(binance as never)
    repoint(okx as never)

    const binanceBalance = await binance.fetchBalance()
    const okxBalance = await okx.fetchBalance()

    expect(Object.keys(binance.markets ?? {})).toContain('BTC/USDT')
    expect(Object.keys(okx.markets ?? {})).toContain('BTC/USDT')
    expect((binanceBalance.total as unknown as Record<string, number>).BTC).toBe(1.75)
    expect((okxBalance.total as unknown as Record<string, number>).ETH).toBe(2.5)
    // A fresh ccxt instance costs a whole market load before its one balance request.
    const paths = (exchange: string) => fake.requests.filter((r) => r.exchange === exchange).map((r) => r.path)
    expect(paths('binance').length).toBe(8)
    expect(paths('binance').at(-1)).toBe('/api/v3/account')
    expect(paths('okx').length).toBe(7)
    expect(paths('okx').at(-1)).toBe('/api/v5/account/balance')
    expect(fake.requests.every((request) => request.status === 200)).toBe(true)
  })

  it('frees its port and drops open connections on close', async () => {
    const fake = await startFakeExchange()
    fake.inject({ type: 'hang' })
    const hanging = fetch(`${fake.url}/api/v3/ping`)
    await new Promise((resolve) => setTimeout(resolve, 50))
    await fake.close()
    await expect(hanging).rejects.toThrow()
    await expect(fetch(`${fake.url}/api/v3/ping`)).rejects.toThrow()
  })

  it('validates its options once and names the field', () => {
    expect(() => createFakeExchange({ binance: { weightPerMinute: 0 } })).toThrow(InvalidOptionError)
    expect(() => createFakeExchange({ binance: { weightPerMinute: 0 } })).toThrow(
      /"binance.weightPerMinute".*received 0/,
    )
    expect(() => createFakeExchange({ accounts: [{ exchange: 'okx', apiKey: 'k', secret: 's' }] })).toThrow(
      /"accounts.0.password".*passphrase/,
    )
    expect(() =>
      createFakeExchange({ accounts: [{ ...BINANCE, balances: [{ asset: 'BTC', free: '1e-8' }] }] }),
    ).toThrow(/"accounts.0.balances.0.free"/)
    expect(() =>
      createFakeExchange({ accounts: [{ ...BINANCE, balances: [{ asset: 'BTC', free: '0.123456789' }] }] }),
    ).toThrow(/more than 8 decimals/)
    expect(() => createFakeExchange().inject({ type: 'error', status: 404 } as never)).toThrow(/"fault.status"/)
    return expect(startFakeExchange({ port: -1 })).rejects.toThrow(/"port"/)
  })
})

describe('fake Binance', () => {
  it('accepts a correctly signed request and refuses wrong keys, secrets and missing parameters', async () => {
    const fake = await start({ accounts: [BINANCE] })
    expect((await binanceGet(fake, '/api/v3/account')).status).toBe(200)

    const wrongSecret = await binanceGet(fake, '/api/v3/account', { secret: 'not-the-secret' })
    expect([wrongSecret.status, (await json(wrongSecret)).code]).toEqual([400, -1022])
    const unknownKey = await binanceGet(fake, '/api/v3/account', { apiKey: 'nobody' })
    expect([unknownKey.status, (await json(unknownKey)).code]).toEqual([401, -2015])
    const noKey = await fetch(`${fake.url}/api/v3/account?timestamp=${Date.now()}&signature=00`)
    expect([noKey.status, (await json(noKey)).code]).toEqual([401, -2014])
    const noSignature = await fetch(`${fake.url}/api/v3/account?timestamp=${Date.now()}`, {
      headers: { 'X-MBX-APIKEY': BINANCE.apiKey },
    })
    expect([noSignature.status, (await json(noSignature)).code]).toEqual([400, -1102])
  })

  it('refuses a signature computed over other parameters than those sent', async () => {
    const fake = await start({ accounts: [BINANCE] })
    const query = `timestamp=${Date.now()}`
    const signature = createHmac('sha256', BINANCE.secret).update(query).digest('hex')
    const tampered = await fetch(`${fake.url}/api/v3/account?${query}&omitZeroBalances=true&signature=${signature}`, {
      headers: { 'X-MBX-APIKEY': BINANCE.apiKey },
    })
    expect((await json(tampered)).code).toBe(-1022)
  })

  it('checks timestamps against recvWindow on its clock, unless told not to', async () => {
    const clock = new FakeClock(Date.now())
    const fake = await start({ accounts: [BINANCE], clock })
    const stale = await binanceGet(fake, '/api/v3/account', { timestamp: clock.now() - 6_000 })
    expect([stale.status, (await json(stale)).code]).toEqual([400, -1021])
    const ahead = await binanceGet(fake, '/api/v3/account', { timestamp: clock.now() + 1_500 })
    expect((await json(ahead)).code).toBe(-1021)
    expect((await binanceGet(fake, '/api/v3/account', { timestamp: clock.now() - 4_000 })).status).toBe(200)

    const lenient = await start({ accounts: [BINANCE], clock, checkTimestamps: false })
    expect((await binanceGet(lenient, '/api/v3/account', { timestamp: 1 })).status).toBe(200)
  })

  it('serves the account with 8-decimal amounts, hiding zero balances on omitZeroBalances', async () => {
    const fake = await start({
      accounts: [
        {
          ...BINANCE,
          balances: [
            { asset: 'BTC', free: '98765432.12345678', used: '0.00000002' },
            { asset: 'ETH', free: '1.5' },
            { asset: 'BNB', free: '0' },
          ],
        },
      ],
    })
    const all = (await json(await binanceGet(fake, '/api/v3/account'))) as { balances: unknown[]; accountType: string }
    expect(all.accountType).toBe('SPOT')
    expect(all.balances).toEqual([
      { asset: 'BTC', free: '98765432.12345678', locked: '0.00000002' },
      { asset: 'ETH', free: '1.50000000', locked: '0.00000000' },
      { asset: 'BNB', free: '0.00000000', locked: '0.00000000' },
    ])
    const nonZero = (await json(
      await binanceGet(fake, '/api/v3/account', { params: { omitZeroBalances: 'true' } }),
    )) as { balances: Array<{ asset: string }> }
    expect(nonZero.balances.map((balance) => balance.asset)).toEqual(['BTC', 'ETH'])
  })

  it('counts request weight per IP per minute in X-MBX-USED-WEIGHT-1M and answers 429 with Retry-After past the limit', async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 0, 0, 15))
    const fake = await start({ accounts: [BINANCE], clock, checkTimestamps: false, binance: { weightPerMinute: 60 } })
    const weights: string[] = []
    for (let call = 0; call < 3; call++) {
      const response = await binanceGet(fake, '/api/v3/account')
      expect(response.status).toBe(200)
      weights.push(response.headers.get('x-mbx-used-weight-1m') as string)
    }
    expect(weights).toEqual(['20', '40', '60'])
    expect(fake.usedWeight()).toBe(60)

    const limited = await binanceGet(fake, '/api/v3/account')
    expect(limited.status).toBe(429)
    expect(limited.headers.get('retry-after')).toBe('45')
    expect((await json(limited)).code).toBe(-1003)
    // A public call of weight 1 is over the limit too: the budget is the IP's, not the key's.
    expect((await fetch(`${fake.url}/api/v3/ping`)).status).toBe(429)

    await clock.advance(45_000)
    const fresh = await binanceGet(fake, '/api/v3/account')
    expect(fresh.status).toBe(200)
    expect(fresh.headers.get('x-mbx-used-weight-1m')).toBe('20')
  })

  it('bans an IP with 418 after repeated 429s, each ban twice as long, for every route', async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 0, 0, 0))
    const fake = await start({
      accounts: [BINANCE],
      clock,
      checkTimestamps: false,
      binance: { weightPerMinute: 20, banAfter429s: 2, banMs: 120_000 },
    })
    const statuses: number[] = []
    for (let call = 0; call < 4; call++) statuses.push((await binanceGet(fake, '/api/v3/account')).status)
    expect(statuses).toEqual([200, 429, 429, 418])

    const banned = await fetch(`${fake.url}/api/v3/exchangeInfo`)
    expect(banned.status).toBe(418)
    expect(banned.headers.get('retry-after')).toBe('120')
    expect((await json(banned)).code).toBe(-1003)

    await clock.advance(120_000)
    expect((await binanceGet(fake, '/api/v3/account')).status).toBe(200)
    for (let call = 0; call < 3; call++) await binanceGet(fake, '/api/v3/account')
    const second = await fetch(`${fake.url}/api/v3/ping`)
    expect([second.status, second.headers.get('retry-after')]).toEqual([418, '240'])
  })

  it('keeps sapi weight in its own pool and header', async () => {
    const fake = await start({ accounts: [BINANCE] })
    const response = await binanceGet(fake, '/sapi/v1/capital/config/getall')
    expect(response.status).toBe(200)
    expect(response.headers.get('x-sapi-used-ip-weight-1m')).toBe('10')
    expect(fake.usedWeight()).toBe(0)
  })
})

describe('fake OKX', () => {
  it('accepts a correctly signed request and refuses wrong keys, secrets, passphrases and timestamps', async () => {
    const clock = new FakeClock(Date.now())
    const fake = await start({ accounts: [OKX], clock })
    const ok = await okxGet(fake, '/api/v5/account/balance')
    expect([ok.status, (await json(ok)).code]).toEqual([200, '0'])

    const cases: Array<[Parameters<typeof okxGet>[2], number, string]> = [
      [{ secret: 'wrong' }, 401, '50113'],
      [{ password: 'wrong' }, 401, '50105'],
      [{ apiKey: 'nobody' }, 401, '50111'],
      [{ timestamp: new Date(clock.now() - 31_000).toISOString() }, 401, '50102'],
      [{ timestamp: 'yesterday' }, 401, '50112'],
    ]
    for (const [credentials, status, code] of cases) {
      const response = await okxGet(fake, '/api/v5/account/balance', credentials)
      expect([response.status, (await json(response)).code]).toEqual([status, code])
    }
    const unsigned = await fetch(`${fake.url}/api/v5/account/balance`)
    expect((await json(unsigned)).code).toBe('50103')
  })

  it('signs the query too: a balance request filtered by ccy must be signed with it', async () => {
    const fake = await start({
      accounts: [
        {
          ...OKX,
          balances: [
            { asset: 'BTC', free: '1', used: '0.5' },
            { asset: 'ETH', free: '3' },
          ],
        },
      ],
    })
    const body = (await json(await okxGet(fake, '/api/v5/account/balance?ccy=BTC'))) as {
      data: Array<{ details: Array<Record<string, string>> }>
    }
    expect(body.data[0]?.details).toHaveLength(1)
    expect(body.data[0]?.details[0]).toMatchObject({
      ccy: 'BTC',
      eq: '1.5',
      cashBal: '1.5',
      availBal: '1',
      frozenBal: '0.5',
      availEq: '',
    })
  })

  it('limits the balance endpoint to 10 requests per 2 s per account with 50011, in a sliding window', async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1))
    const other = { ...OKX, apiKey: 'okx-key-2', secret: 'okx-secret-2' }
    const fake = await start({ accounts: [OKX, other], clock, checkTimestamps: false })
    for (let call = 0; call < 10; call++) {
      expect((await okxGet(fake, '/api/v5/account/balance')).status).toBe(200)
      await clock.advance(100)
    }
    const limited = await okxGet(fake, '/api/v5/account/balance')
    expect([limited.status, (await json(limited)).code, limited.headers.get('retry-after')]).toEqual([
      429,
      '50011',
      null,
    ])
    // The limit is per user: another user's account is not affected.
    expect((await okxGet(fake, '/api/v5/account/balance', other)).status).toBe(200)
    // 2 s after the first request, one slot is free again, not ten: the window slides.
    await clock.advance(1_001)
    expect((await okxGet(fake, '/api/v5/account/balance')).status).toBe(200)
    expect((await okxGet(fake, '/api/v5/account/balance')).status).toBe(429)
  })
})

describe('fake OKX users and account modes', () => {
  it('counts limits per user: two keys of one uid share them, and account/config names the uid and mode', async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1))
    const second = { ...OKX, apiKey: 'okx-key-2', secret: 'okx-secret-2' }
    const stranger = { ...OKX, apiKey: 'okx-key-3', secret: 'okx-secret-3' }
    const fake = await start({
      accounts: [
        { ...OKX, uid: 777, okxAccountLevel: '3' },
        { ...second, uid: 777 },
        { ...stranger, uid: 888 },
      ],
      clock,
      checkTimestamps: false,
    })
    const config = await json(await okxGet(fake, '/api/v5/account/config'))
    expect(config.code).toBe('0')
    expect((config.data as Array<Record<string, unknown>>)[0]).toMatchObject({ uid: '777', acctLv: '3' })
    for (let call = 0; call < 5; call++) expect((await okxGet(fake, '/api/v5/account/balance')).status).toBe(200)
    for (let call = 0; call < 5; call++) {
      expect((await okxGet(fake, '/api/v5/account/balance', second)).status).toBe(200)
    }
    const limited = await okxGet(fake, '/api/v5/account/balance', second)
    expect([limited.status, await json(limited)]).toEqual([429, { msg: 'Too Many Requests', code: '50011' }])
    expect((await okxGet(fake, '/api/v5/account/balance', stranger)).status).toBe(200)
  })

  it('sends margin-mode detail fields exactly as given, and lists a borrowed currency', async () => {
    const okx = { availBal: '', availEq: '0', cashBal: '-1200.5', eq: '-1200.61235', liab: '1200.61235' }
    const fake = await start({
      accounts: [
        {
          ...OKX,
          balances: [
            { asset: 'ETH', free: '0.6612664522199999', okx: { availEq: '0.6612664522199999' } },
            { asset: 'USDT', free: '0', okx },
          ],
        },
      ],
    })
    const body = await json(await okxGet(fake, '/api/v5/account/balance'))
    const details = (body.data as Array<{ details: Array<Record<string, string>> }>)[0]?.details
    expect(details?.map((detail) => detail.ccy)).toEqual(['ETH', 'USDT'])
    expect(details?.[0]).toMatchObject({
      availBal: '0.6612664522199999',
      availEq: '0.6612664522199999',
      frozenBal: '0',
    })
    expect(details?.[1]).toMatchObject({ ...okx, frozenBal: '0' })
  })
})

describe('fake accounts', () => {
  it('change their balances when told, and can follow the clock', async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1))
    const fake = await start({ clock, checkTimestamps: false })
    const account = fake.addAccount({ ...BINANCE, balances: [{ asset: 'BTC', free: '1' }] })
    const read = async () =>
      ((await json(await binanceGet(fake, '/api/v3/account'))) as { balances: Array<{ free: string }> }).balances[0]
        ?.free
    expect(await read()).toBe('1.00000000')
    account.setBalances([{ asset: 'BTC', free: '2' }])
    expect(await read()).toBe('2.00000000')
    account.setBalances((now) => [{ asset: 'BTC', free: String((now - Date.UTC(2026, 0, 1)) / 1000) }])
    await clock.advance(5_000)
    expect(await read()).toBe('5.00000000')
    expect(account.balances()).toEqual([{ asset: 'BTC', free: '5' }])
  })

  it('answer 500 in the exchange words when a balances function returns what the exchange could never send', async () => {
    const fake = await start({ accounts: [{ ...BINANCE, balances: () => [{ asset: 'BTC', free: 'lots' }] }] })
    const response = await binanceGet(fake, '/api/v3/account')
    expect(response.status).toBe(500)
    expect(String((await json(response)).msg)).toMatch(/balances\(now\)\.0\.free/)
  })

  it('refuse a revoked key until it is restored, and a removed one for good', async () => {
    const fake = await start({ accounts: [BINANCE, OKX] })
    fake.account('binance', BINANCE.apiKey)?.revoke()
    fake.account('okx', OKX.apiKey)?.revoke()
    expect((await json(await binanceGet(fake, '/api/v3/account'))).code).toBe(-2015)
    expect((await json(await okxGet(fake, '/api/v5/account/balance'))).code).toBe('50111')
    fake.account('binance', BINANCE.apiKey)?.restore()
    expect((await binanceGet(fake, '/api/v3/account')).status).toBe(200)
    expect(fake.removeAccount('binance', BINANCE.apiKey)).toBe(true)
    expect((await json(await binanceGet(fake, '/api/v3/account'))).code).toBe(-2015)
  })
})

describe('fake faults', () => {
  it('answer in each exchange own words', async () => {
    const fake = await start({ accounts: [BINANCE, OKX] })
    const expectations: Array<[Parameters<FakeExchangeServer['inject']>[0], [number, unknown], [number, unknown]]> = [
      [{ type: 'error' }, [500, -1001], [500, '50026']],
      [{ type: 'error', status: 503 }, [503, -1001], [503, '50026']],
      [{ type: 'maintenance' }, [503, -1008], [503, '50001']],
      [{ type: 'rate-limited', retryAfterMs: 7_000 }, [429, -1003], [429, '50011']],
      [{ type: 'revoked' }, [401, -2015], [401, '50111']],
      [{ type: 'ip-not-allowed' }, [401, -2015], [401, '50110']],
      [{ type: 'suspended' }, [401, -2015], [200, '50007']],
    ]
    for (const [fault, binance, okx] of expectations) {
      const handle = fake.inject(fault)
      const fromBinance = await binanceGet(fake, '/api/v3/account')
      const fromOkx = await okxGet(fake, '/api/v5/account/balance')
      expect([fromBinance.status, (await json(fromBinance)).code], fault.type).toEqual(binance)
      expect([fromOkx.status, (await json(fromOkx)).code], fault.type).toEqual(okx)
      if (fault.type === 'rate-limited') expect(fromBinance.headers.get('retry-after')).toBe('7')
      handle.remove()
    }
    expect((await binanceGet(fake, '/api/v3/account')).status).toBe(200)
  })

  it('produce the real answers a balance call can get: documented codes, WAF pages, bans, restricted locations', async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1))
    const fake = await start({ accounts: [BINANCE, OKX], clock, checkTimestamps: false })
    const answers: Array<
      [Parameters<FakeExchangeServer['inject']>[0], [number, string | null], [number, string | null], string]
    > = [
      [{ type: 'code', code: '50009' }, [400, '50009'], [200, '50009'], 'Account is frozen due to stop-out.'],
      [{ type: 'code', code: '50022' }, [400, '50022'], [200, '50022'], 'Account is frozen due to liquidation.'],
      [{ type: 'code', code: '50119' }, [400, '50119'], [200, '50119'], "API key doesn't exist"],
      [{ type: 'code', code: '50119', status: 401 }, [401, '50119'], [401, '50119'], "API key doesn't exist"],
      [{ type: 'code', code: '50040' }, [400, '50040'], [200, '50040'], 'Too frequent operations'],
      [{ type: 'code', code: '-2015' }, [401, '-2015'], [200, '-2015'], ''],
      [{ type: 'rate-limited', status: 200 }, [200, '-1003'], [200, '50011'], 'Too Many Requests'],
      [{ type: 'rate-limited', bare: true }, [429, null], [429, null], ''],
      [{ type: 'restricted-location' }, [451, '0'], [200, '50121'], "You can't access our services"],
      [{ type: 'waf' }, [403, null], [403, null], ''],
      [{ type: 'ip-banned', ms: 300_000 }, [418, '-1003'], [429, null], ''],
    ]
    for (const [fault, binance, okx, okxMessage] of answers) {
      const handle = fake.inject(fault)
      const fromBinance = await binanceGet(fake, '/api/v3/account', { timestamp: clock.now() })
      const fromOkx = await okxGet(fake, '/api/v5/account/balance')
      const binanceText = await fromBinance.text()
      const okxText = await fromOkx.text()
      const codeOf = (text: string) => (text.startsWith('{') ? String(JSON.parse(text).code) : null)
      expect([fromBinance.status, codeOf(binanceText)], `binance ${JSON.stringify(fault)}`).toEqual(binance)
      expect([fromOkx.status, codeOf(okxText)], `okx ${JSON.stringify(fault)}`).toEqual(okx)
      // OKX error bodies carry code and msg, and no data.
      if (okx[1] !== null) expect(Object.keys(JSON.parse(okxText)).sort()).toEqual(['code', 'msg'])
      if (okxMessage) expect(JSON.parse(okxText).msg).toContain(okxMessage)
      if (fault.type === 'waf') expect(binanceText).toMatch(/403 ERROR[\s\S]*cloudfront/)
      if (fault.type === 'ip-banned') {
        expect(fromBinance.headers.get('retry-after')).toBeNull()
        expect(JSON.parse(binanceText).msg).toContain(`IP banned until ${clock.now() + 300_000}.`)
      }
      handle.remove()
    }
  })

  it('ban without Retry-After when Binance is told to, the end only in the message', async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1))
    const fake = await start({
      accounts: [BINANCE],
      clock,
      checkTimestamps: false,
      binance: { weightPerMinute: 20, banAfter429s: 1, banRetryAfter: false },
    })
    const statuses: number[] = []
    for (let call = 0; call < 3; call++) {
      statuses.push((await binanceGet(fake, '/api/v3/account', { timestamp: clock.now() })).status)
    }
    const ban = await binanceGet(fake, '/api/v3/account', { timestamp: clock.now() })
    expect([...statuses, ban.status]).toEqual([200, 429, 418, 418])
    expect(ban.headers.get('retry-after')).toBeNull()
    expect((await json(ban)).msg).toContain(`IP banned until ${clock.now() + 120_000}.`)
  })

  it('serve an HTML page with status 200, and a gateway page for 502', async () => {
    const fake = await start({ accounts: [BINANCE] })
    fake.inject({ type: 'html' }, { times: 1 })
    const page = await binanceGet(fake, '/api/v3/account')
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toMatch(/text\/html/)
    expect(await page.text()).toMatch(/^<!DOCTYPE html>/)
    fake.inject({ type: 'error', status: 502 }, { times: 1 })
    const gateway = await binanceGet(fake, '/api/v3/account')
    expect([gateway.status, await gateway.text()]).toEqual([502, expect.stringContaining('Bad Gateway')])
  })

  it('target one account, one exchange or one path, and remove themselves after `times`', async () => {
    const other = { ...BINANCE, apiKey: 'binance-key-2', secret: 'binance-secret-2' }
    const fake = await start({ accounts: [BINANCE, other, OKX] })
    const perAccount = fake.inject({ type: 'error' }, { apiKey: BINANCE.apiKey, times: 2 })
    expect((await binanceGet(fake, '/api/v3/account')).status).toBe(500)
    expect((await binanceGet(fake, '/api/v3/account', other)).status).toBe(200)
    expect((await fetch(`${fake.url}/api/v3/exchangeInfo`)).status).toBe(200)
    expect((await binanceGet(fake, '/api/v3/account')).status).toBe(500)
    expect((await binanceGet(fake, '/api/v3/account')).status).toBe(200)
    expect(perAccount.hits).toBe(2)

    fake.inject({ type: 'maintenance' }, { exchange: 'okx' })
    expect((await okxGet(fake, '/api/v5/account/balance')).status).toBe(503)
    expect((await binanceGet(fake, '/api/v3/account')).status).toBe(200)
    fake.clearFaults()

    fake.inject({ type: 'error' }, { path: '/api/v3/exchangeInfo' })
    expect((await fetch(`${fake.url}/api/v3/exchangeInfo`)).status).toBe(500)
    expect((await binanceGet(fake, '/api/v3/account')).status).toBe(200)
  })

  it('delay answers by `latency` on the fake clock', async () => {
    const clock = new FakeClock(Date.now())
    const fake = await start({ accounts: [BINANCE], clock })
    fake.inject({ type: 'latency', ms: 5_000 })
    let answered = false
    const pending = fetch(`${fake.url}/api/v3/ping`).then((response) => {
      answered = true
      return response
    })
    await waitFor(() => clock.pending > 0)
    await clock.advance(4_999)
    expect(answered).toBe(false)
    await clock.advance(1)
    expect((await pending).status).toBe(200)
  })

  it('hang until the client gives up, and drop the connection on `disconnect`', async () => {
    const fake = await start({ accounts: [BINANCE] })
    fake.inject({ type: 'hang' }, { times: 1 })
    const controller = new AbortController()
    const hanging = fetch(`${fake.url}/api/v3/ping`, { signal: controller.signal })
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(fake.requests).toHaveLength(0)
    controller.abort()
    await expect(hanging).rejects.toThrow()
    await waitFor(() => fake.requests.length === 1)
    expect(fake.requests[0]).toMatchObject({ path: '/api/v3/ping', status: 0, fault: 'hang' })

    fake.inject({ type: 'disconnect' }, { times: 1 })
    await expect(fetch(`${fake.url}/api/v3/ping`)).rejects.toThrow(/fetch failed/)
    expect((await fetch(`${fake.url}/api/v3/ping`)).status).toBe(200)
  })
})

describe('the request log', () => {
  it('records each request with key, status, exchange code, weight and fault, never the signature', async () => {
    const fake = await start({ accounts: [BINANCE, OKX], maxLogEntries: 3 })
    await binanceGet(fake, '/api/v3/account')
    await binanceGet(fake, '/api/v3/account', { secret: 'wrong' })
    fake.inject({ type: 'maintenance' }, { times: 1 })
    await okxGet(fake, '/api/v5/account/balance')
    expect(fake.requests).toEqual([
      expect.objectContaining({
        exchange: 'binance',
        method: 'GET',
        path: '/api/v3/account',
        apiKey: BINANCE.apiKey,
        status: 200,
        code: null,
        weight: 20,
        fault: null,
        ip: '127.0.0.1',
      }),
      expect.objectContaining({ status: 400, code: '-1022', weight: 20 }),
      expect.objectContaining({
        exchange: 'okx',
        apiKey: OKX.apiKey,
        status: 503,
        code: '50001',
        fault: 'maintenance',
      }),
    ])
    expect(fake.requests[0]?.query).toMatch(/^timestamp=\d+&recvWindow=5000$/)

    await fetch(`${fake.url}/api/v3/ping`)
    expect(fake.requests).toHaveLength(3)
    expect(fake.requests[2]?.path).toBe('/api/v3/ping')
    fake.clearRequests()
    expect(fake.requests).toHaveLength(0)
  })
})

async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('waitFor: condition still false')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
