/**
 * A short duration for status lines that change every second ("4 s", "2 min 5 s"); the staleness badge covers the
 * coarse "minutes ago". Negative durations count as zero.
 */
export function formatSeconds(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000))
  if (seconds < 60) return `${seconds} s`
  const minutes = Math.floor(seconds / 60)
  const rest = seconds % 60
  if (minutes < 60) return rest === 0 ? `${minutes} min` : `${minutes} min ${rest} s`
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`
}
