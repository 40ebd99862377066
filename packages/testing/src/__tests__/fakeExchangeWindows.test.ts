import { createHmac } from 'node:crypto'
import { InvalidOptionError } from '@syncfolio/core'
import { afterEach, describe, expect, it } from 'vitest'
import { FakeClock } from '../fakeClock.js'
import { createFakeExchange, type FakeExchange } from '../fakeExchange/fakeExchange.js'
import { type FakeExchangeServer, startFakeExchange } from '../fakeExchange/startFakeExchange.js'

const ALICE = { exchange: 'binance' as const, apiKey: 'alice-key', secret: 'alice-secret' }
const BOB = { exchange: 'binance' as const, apiKey: 'bob-key', secret: 'bob-secret' }
const CAROL = { exchange: 'okx' as const, apiKey: 'carol-key', secret: 'carol-secret', password: 'carol-pass' }

const servers: FakeExchangeServer[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()))
})

/** A signed `GET /api/v3/account` for one Binance key, as a Fetch Request. */
function accountRequest(origin: string, { apiKey, secret }: { apiKey: string; secret: string }, timestamp: number) {
  const query = new URLSearchParams({ timestamp: String(timestamp), recvWindow: '5000' }).toString()
  const signature = createHmac('sha256', secret).update(query).digest('hex')
  return new Request(`${origin}/api/v3/account?${query}&signature=${signature}`, {
    headers: { 'X-MBX-APIKEY': apiKey },
  })
}

function account(fake: FakeExchange, clock: FakeClock, key = ALICE): Promise<Response> {
  return fake.handle(accountRequest('https://api.binance.com', key, clock.now()))
}

describe('Binance weight windows', () => {
  it('counts weight in clock-aligned windows of binance.weightWindowMs and reports the current one', async () => {
    // 3 s into a 5 s window: [00:00:00, 00:00:05).
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 0, 0, 3))
    const fake = createFakeExchange({
      accounts: [ALICE],
      clock,
      checkTimestamps: false,
      binance: { weightPerMinute: 40, weightWindowMs: 5_000 },
    })
    const used: Array<string | null> = []
    for (let call = 0; call < 2; call++) used.push((await account(fake, clock)).headers.get('x-mbx-used-weight-1m'))
    expect(used).toEqual(['20', '40'])

    const limited = await account(fake, clock)
    expect(limited.status).toBe(429)
    // The rest of the 5 s window, not of the minute.
    expect(limited.headers.get('retry-after')).toBe('2')
    expect(((await limited.json()) as { msg: string }).msg).toContain('40 request weight per 5 SECOND')

    await clock.advance(2_000)
    const next = await account(fake, clock)
    expect(next.status).toBe(200)
    expect(next.headers.get('x-mbx-used-weight-1m')).toBe('20')
    expect(fake.usedWeight()).toBe(20)
  })

  it('keeps a history of every window that saw a request: weight used and requests refused', async () => {
    const start = Date.UTC(2026, 0, 1)
    const clock = new FakeClock(start)
    const fake = createFakeExchange({
      accounts: [ALICE, BOB],
      clock,
      checkTimestamps: false,
      binance: { weightPerMinute: 40, weightWindowMs: 1_000, banAfter429s: 5 },
    })
    expect(fake.weightWindows()).toEqual([])
    await account(fake, clock)
    await account(fake, clock, BOB) // the budget is the IP's: Bob's weight counts in the same window
    await account(fake, clock)
    await clock.advance(2_500) // a window with no request leaves no entry
    await account(fake, clock)

    expect(fake.weightWindows()).toEqual([
      { start, end: start + 1_000, used: 40, limit: 40, refused: 1 },
      { start: start + 2_000, end: start + 3_000, used: 20, limit: 40, refused: 0 },
    ])
    // Another IP has windows of its own.
    expect(fake.weightWindows('10.0.0.2')).toEqual([])
    await fake.handle(accountRequest('https://api.binance.com', ALICE, clock.now()), { ip: '10.0.0.2' })
    expect(fake.weightWindows('10.0.0.2')).toEqual([
      { start: start + 2_000, end: start + 3_000, used: 20, limit: 40, refused: 0 },
    ])
    // A copy: changing it changes nothing in the fake.
    const [first] = fake.weightWindows()
    if (first) first.used = 0
    expect(fake.weightWindows()[0]?.used).toBe(40)
  })

  it('counts 418 answers of a banned IP as refused in their window', async () => {
    const start = Date.UTC(2026, 0, 1)
    const clock = new FakeClock(start)
    const fake = createFakeExchange({
      accounts: [ALICE],
      clock,
      checkTimestamps: false,
      binance: { weightPerMinute: 20, weightWindowMs: 10_000, banAfter429s: 1 },
    })
    const statuses: number[] = []
    for (let call = 0; call < 4; call++) statuses.push((await account(fake, clock)).status)
    expect(statuses).toEqual([200, 429, 418, 418])
    expect(fake.weightWindows()).toEqual([{ start, end: start + 10_000, used: 20, limit: 20, refused: 3 }])
  })

  it('says the window in exchangeInfo and keeps the minute by default', async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1))
    const weightLimit = async (fake: FakeExchange) => {
      const info = (await (await fake.handle(new Request('https://api.binance.com/api/v3/exchangeInfo'))).json()) as {
        rateLimits: Array<{ rateLimitType: string; interval: string; intervalNum: number; limit: number }>
      }
      return info.rateLimits.find((limit) => limit.rateLimitType === 'REQUEST_WEIGHT')
    }
    expect(await weightLimit(createFakeExchange({ clock }))).toEqual({
      rateLimitType: 'REQUEST_WEIGHT',
      interval: 'MINUTE',
      intervalNum: 1,
      limit: 6000,
    })
    expect(
      await weightLimit(createFakeExchange({ clock, binance: { weightPerMinute: 300, weightWindowMs: 5_000 } })),
    ).toEqual({ rateLimitType: 'REQUEST_WEIGHT', interval: 'SECOND', intervalNum: 5, limit: 300 })

    // The default window is still Binance's minute: 59 s on, the same window.
    const fake = createFakeExchange({ accounts: [ALICE], clock, checkTimestamps: false })
    await account(fake, clock)
    await clock.advance(59_000)
    expect((await account(fake, clock)).headers.get('x-mbx-used-weight-1m')).toBe('40')
    expect(fake.weightWindows()).toHaveLength(1)
  })

  it('refuses a window length that is not a positive integer of ms, naming the field', () => {
    for (const weightWindowMs of [0, -5, 1.5, Number.NaN, '5000']) {
      const make = () => createFakeExchange({ binance: { weightWindowMs: weightWindowMs as number } })
      expect(make).toThrow(InvalidOptionError)
      expect(make).toThrow(/"binance.weightWindowMs"/)
    }
  })
})

describe('keyConcurrency', () => {
  it('reports the most requests of one key in flight at once, which key, and the overlaps', async () => {
    const fake = await startFakeExchange({ accounts: [ALICE, BOB, CAROL] })
    servers.push(fake)
    expect(fake.keyConcurrency()).toEqual({ peak: 0, peakKey: null, inFlight: 0, overlapping: 0 })

    // Held open until the fault is cleared, so all of them are in flight together.
    fake.inject({ type: 'hang' })
    const origin = fake.url
    const held = [
      fetch(accountRequest(origin, BOB, Date.now())),
      fetch(accountRequest(origin, ALICE, Date.now())),
      fetch(accountRequest(origin, ALICE, Date.now())),
      fetch(`${origin}/api/v5/account/balance`, { headers: { 'OK-ACCESS-KEY': CAROL.apiKey } }),
      fetch(`${origin}/api/v3/ping`), // carries no key: not counted
    ].map((request) => request.catch((error: unknown) => error))
    while (fake.keyConcurrency().inFlight < 4) await new Promise((resolve) => setTimeout(resolve, 5))

    expect(fake.keyConcurrency()).toEqual({ peak: 2, peakKey: ALICE.apiKey, inFlight: 4, overlapping: 1 })
    fake.clearFaults()
    await Promise.all(held)
    while (fake.keyConcurrency().inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 5))
    expect(fake.keyConcurrency()).toEqual({ peak: 2, peakKey: ALICE.apiKey, inFlight: 0, overlapping: 1 })
  })

  it('counts requests one after another as one at a time, and starts afresh on resetKeyConcurrency', async () => {
    const fake = await startFakeExchange({ accounts: [ALICE, BOB] })
    servers.push(fake)
    fake.inject({ type: 'hang' }, { apiKey: BOB.apiKey })
    const held = fetch(accountRequest(fake.url, BOB, Date.now())).catch((error: unknown) => error)
    const second = fetch(accountRequest(fake.url, BOB, Date.now())).catch((error: unknown) => error)
    while (fake.keyConcurrency().inFlight < 2) await new Promise((resolve) => setTimeout(resolve, 5))
    expect(fake.keyConcurrency().peak).toBe(2)

    fake.clearFaults()
    await Promise.all([held, second])
    fake.resetKeyConcurrency()
    expect(fake.keyConcurrency()).toEqual({ peak: 0, peakKey: null, inFlight: 0, overlapping: 0 })
    for (let call = 0; call < 3; call++) {
      expect((await fetch(accountRequest(fake.url, ALICE, Date.now()))).status).toBe(200)
    }
    expect(fake.keyConcurrency()).toEqual({ peak: 1, peakKey: ALICE.apiKey, inFlight: 0, overlapping: 0 })
  })
})
