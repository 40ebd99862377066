import type { ConnectionStatus } from '@syncfolio/core/client'
import { type ComponentPropsWithoutRef, useMemo } from 'react'
import { relativeTime } from './relativeTime.js'
import { useRerenderAt } from './useRerenderAt.js'
import { useStaleness } from './useStaleness.js'

/** What the badge shows; also its `data-state` attribute. `error` wins over the others. */
export type StalenessBadgeState = 'fresh' | 'stale' | 'error' | 'never'

/** The text of each state, announced by screen readers when the state changes. */
export type StalenessBadgeLabels = Record<StalenessBadgeState, string>

export const DEFAULT_BADGE_LABELS: Readonly<StalenessBadgeLabels> = Object.freeze({
  fresh: 'Up to date',
  stale: 'Stale',
  error: 'Reconnect needed',
  never: 'Not synced yet',
})

export interface StalenessBadgeProps extends Omit<ComponentPropsWithoutRef<'span'>, 'children'> {
  /** Start of the last successful sync (epoch ms): `connection.lastSyncAt` or `holdings.asOf`; null before one. */
  syncedAt: number | null | undefined
  /**
   * The connection's status: `error` (its keys were rejected; it is not synced until reconnected) shows the error
   * state whatever the time.
   * @default 'active'
   */
  status?: ConnectionStatus
  /** Stale from `syncedAt + staleAfterMs` on. @default 300_000 (5 minutes) */
  staleAfterMs?: number
  /** The clock, in epoch milliseconds. @default Date.now */
  now?: () => number
  /** Texts of the states, e.g. translated; missing ones keep the default. @default DEFAULT_BADGE_LABELS */
  labels?: Partial<StalenessBadgeLabels>
  /** Locale of the relative time and its tooltip (`Intl`). @default the browser's */
  locale?: string | string[]
}

/**
 * How fresh a connection's (or the holdings') numbers are: "Up to date", "Stale" after 5 minutes without a
 * successful sync, "Reconnect needed" when the keys were rejected, and the time of the last sync.
 *
 * The state text sits in a `role="status"` region that is always rendered, so screen readers announce each change
 * (a live region inserted together with its text is often not announced), and its text changes only when the state
 * does. The relative time ("3 minutes ago") lives outside that region in a `<time dateTime>`, so its updates are
 * not announced every minute. Both re-render from timers set for the moment they change. No styles are applied:
 * style `.syncfolio-badge` and its `data-state`, or import `@syncfolio/react/styles.css`.
 */
export function StalenessBadge(props: StalenessBadgeProps) {
  const { syncedAt, status = 'active', staleAfterMs, now = Date.now, labels, locale, className, ...rest } = props
  const { state: freshness } = useStaleness(syncedAt, staleAfterMs === undefined ? { now } : { now, staleAfterMs })
  const state: StalenessBadgeState = status === 'error' ? 'error' : freshness
  const text = labels?.[state] ?? DEFAULT_BADGE_LABELS[state]

  const localeKey = Array.isArray(locale) ? locale.join(',') : locale
  // biome-ignore lint/correctness/useExhaustiveDependencies: localeKey stands for locale, whose array identity may change each render
  const formats = useMemo(
    () => ({
      relative: new Intl.RelativeTimeFormat(locale, { numeric: 'auto' }),
      absolute: new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' }),
    }),
    [localeKey],
  )
  const ago = syncedAt == null ? null : relativeTime(syncedAt, now(), formats.relative)
  useRerenderAt(ago?.changesAt ?? null, now)

  return (
    <span {...rest} className={className ? `syncfolio-badge ${className}` : 'syncfolio-badge'} data-state={state}>
      {/* Server and browser render at different moments; the state and the time may differ by then. */}
      <span role="status" className="syncfolio-badge__label" suppressHydrationWarning>
        {text}
      </span>
      {ago !== null && syncedAt != null && (
        <>
          {' '}
          <time
            className="syncfolio-badge__time"
            dateTime={new Date(syncedAt).toISOString()}
            title={formats.absolute.format(syncedAt)}
            suppressHydrationWarning
          >
            {ago.text}
          </time>
        </>
      )}
    </span>
  )
}
