const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

export interface RelativeTime {
  /** `now`, `3 minutes ago`, `yesterday`... in the formatter's locale. */
  text: string
  /** When `text` next changes (epoch ms). */
  changesAt: number
}

/**
 * How long ago `time` was, in the largest whole unit (minutes under an hour, hours under a day, then days), and
 * when that text changes, so a component can re-render exactly then. Under a minute, and for a time in the future
 * (a server clock ahead of the browser's), it is "now".
 */
export function relativeTime(time: number, now: number, format: Intl.RelativeTimeFormat): RelativeTime {
  const elapsed = now - time
  if (elapsed < MINUTE) return { text: format.format(0, 'second'), changesAt: time + MINUTE }
  const unit = elapsed < HOUR ? MINUTE : elapsed < DAY ? HOUR : DAY
  const count = Math.floor(elapsed / unit)
  const name = unit === MINUTE ? 'minute' : unit === HOUR ? 'hour' : 'day'
  // The next whole unit, or the switch to the next larger unit, whichever comes first.
  return { text: format.format(-count, name), changesAt: time + (count + 1) * unit }
}
