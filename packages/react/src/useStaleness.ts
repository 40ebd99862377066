import { useRerenderAt } from './useRerenderAt.js'

/** `never`: no successful sync yet, so there is no age to judge. */
export type Freshness = 'fresh' | 'stale' | 'never'

export interface StalenessOptions {
  /**
   * How long after a successful sync the data counts as stale. The background sync runs about once a minute, so
   * five minutes without one means several syncs in a row failed or were skipped.
   * @default 300_000 (5 minutes)
   */
  staleAfterMs?: number
  /**
   * The clock, in epoch milliseconds. Compared with server times, so a browser clock that is far off shows wrong
   * staleness; inject a server-corrected clock if your users' clocks cannot be trusted.
   * @default Date.now
   */
  now?: () => number
}

export interface Staleness {
  state: Freshness
  /** `state === 'stale'`. */
  isStale: boolean
  /** When the data turns (or turned) stale: `syncedAt + staleAfterMs`; null before the first sync. */
  staleAt: number | null
}

export const DEFAULT_STALE_AFTER_MS = 300_000

/**
 * Whether data synced at `syncedAt` (epoch ms, e.g. `connection.lastSyncAt` or `holdings.asOf`) is stale: stale
 * from exactly `syncedAt + staleAfterMs` on. The component re-renders once, at the moment the state flips, from a
 * timer set for that moment; nothing ticks while the data is fresh.
 */
export function useStaleness(syncedAt: number | null | undefined, options: StalenessOptions = {}): Staleness {
  const { staleAfterMs = DEFAULT_STALE_AFTER_MS, now = Date.now } = options
  if (!(typeof staleAfterMs === 'number' && staleAfterMs >= 0)) {
    throw new RangeError(`useStaleness: option "staleAfterMs" must be a number >= 0; received ${String(staleAfterMs)}`)
  }
  const staleAt = syncedAt == null ? null : syncedAt + staleAfterMs
  const state: Freshness = staleAt === null ? 'never' : now() >= staleAt ? 'stale' : 'fresh'
  useRerenderAt(state === 'fresh' ? staleAt : null, now)
  return { state, isStale: state === 'stale', staleAt }
}
