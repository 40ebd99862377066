import type { FakeBalance } from '@syncfolio/testing'

/** An asset a demo account holds, around which its balance drifts. */
export interface DriftingAsset {
  asset: string
  /** The amount the drift moves around, as a decimal string with at most 8 decimals. */
  free: string
  /** Held in open orders; does not drift. */
  used?: string
}

const SCALE = 8
const UNIT = 10n ** BigInt(SCALE)

/**
 * Balances as a function of the fake exchange's clock: each amount moves up to about 2% around its base, on two
 * slow waves with a phase per account and asset, so two syncs a few seconds apart always see different numbers.
 * Computed in integer units of 1e-8 so the fake serves exact decimal strings, never a float's digits.
 */
export function driftingBalances(assets: readonly DriftingAsset[], seed: number): (now: number) => FakeBalance[] {
  return (now) =>
    assets.map(({ asset, free, used }, index) => {
      const phase = seed * 1.7 + index * 2.3
      const wave = Math.sin(now / 41_000 + phase) * 0.015 + Math.sin(now / 9_000 + phase * 3) * 0.004
      const base = toUnits(free)
      const drifted = base + (base * BigInt(Math.round(wave * 1_000_000))) / 1_000_000n
      return { asset, free: fromUnits(drifted), ...(used !== undefined && { used }) }
    })
}

function toUnits(decimal: string): bigint {
  const [whole = '0', fraction = ''] = decimal.split('.')
  return BigInt(whole) * UNIT + BigInt(fraction.padEnd(SCALE, '0').slice(0, SCALE))
}

function fromUnits(units: bigint): string {
  return `${units / UNIT}.${(units % UNIT).toString().padStart(SCALE, '0')}`
}
