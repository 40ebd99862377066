import {
  type Balance,
  type Clock,
  type ExchangeAdapter,
  type FetchBalancesRequest,
  type FetchBalancesResult,
  SyncError,
  systemClock,
} from '@syncfolio/core'

export interface SimulatedExchangeOptions {
  /** Adapter id. @default 'simulated' */
  id?: string
  /** Assets every account holds. @default ['BTC', 'ETH', 'USDT'] */
  assets?: string[]
  /** Chance in [0, 1] that a call fails with a transient error. @default 0 */
  failureRate?: number
  /** How long a call takes. @default 0 */
  latencyMs?: number
  clock?: Clock
  random?: () => number
}

export interface SimulatedExchange extends ExchangeAdapter {
  /** Every later call with this API key fails with AUTH_FAILED, as when a user revokes the key. */
  revoke(apiKey: string): void
  /** Calls received, by API key. */
  readonly calls: ReadonlyMap<string, number>
}

const SCALE = 8
const UNIT = 10n ** BigInt(SCALE)

function toDecimal(units: bigint): string {
  const digits = units.toString().padStart(SCALE + 1, '0')
  return `${digits.slice(0, -SCALE)}.${digits.slice(-SCALE)}`
}

/**
 * An exchange in memory, for demos and tests with no network: each API key is an account whose balances drift a
 * little on every call, some calls fail like a real exchange's do, and revoked keys are refused.
 */
export function createSimulatedExchange(options: SimulatedExchangeOptions = {}): SimulatedExchange {
  const {
    id = 'simulated',
    assets = ['BTC', 'ETH', 'USDT'],
    failureRate = 0,
    latencyMs = 0,
    clock = systemClock,
    random = Math.random,
  } = options
  const accounts = new Map<string, Map<string, bigint>>()
  const revoked = new Set<string>()
  const calls = new Map<string, number>()

  function account(apiKey: string): Map<string, bigint> {
    let holdings = accounts.get(apiKey)
    if (!holdings) {
      holdings = new Map(assets.map((asset) => [asset, BigInt(Math.floor(random() * 1000)) * UNIT + 12_345_678n]))
      accounts.set(apiKey, holdings)
    }
    return holdings
  }

  function drift(holdings: Map<string, bigint>): Balance[] {
    const balances: Balance[] = []
    for (const [asset, units] of holdings) {
      const change = (units * BigInt(Math.round((random() - 0.5) * 2_000))) / 100_000n
      const next = units + change > 0n ? units + change : units
      holdings.set(asset, next)
      const used = next / 10n
      balances.push({ asset, free: toDecimal(next - used), used: toDecimal(used), total: toDecimal(next) })
    }
    return balances
  }

  function transientFailure(): SyncError {
    const roll = random()
    if (roll < 0.4) return new SyncError('NETWORK', `${id}: connection reset`)
    if (roll < 0.8) return new SyncError('EXCHANGE_UNAVAILABLE', `${id}: 503 Service Unavailable`)
    return new SyncError('RATE_LIMITED', `${id}: 429 Too Many Requests`, { retryAfterMs: 5_000, scope: 'exchange' })
  }

  async function fetchBalances({ credentials, signal }: FetchBalancesRequest): Promise<FetchBalancesResult> {
    const apiKey = credentials.apiKey
    calls.set(apiKey, (calls.get(apiKey) ?? 0) + 1)
    if (latencyMs > 0) await sleep(clock, latencyMs, signal)
    if (revoked.has(apiKey)) throw new SyncError('AUTH_FAILED', `${id}: API key revoked`)
    if (random() < failureRate) throw transientFailure()
    return { balances: drift(account(apiKey)) }
  }

  return {
    id,
    fetchBalances,
    revoke: (apiKey) => revoked.add(apiKey),
    calls,
  }
}

function sleep(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason)
    const timer = clock.setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clock.clearTimeout(timer)
      reject(signal.reason)
    }
    signal.addEventListener('abort', onAbort, { once: true })
  })
}
