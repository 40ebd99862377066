/** FNV-1a: a cheap, stable 32-bit hash, so a connection keeps its phase across restarts and processes. */
function hash32(text: string): number {
  let hash = 0x811c9dc5
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}

/**
 * When a connection that just synced is due again. Each connection has a fixed phase within the interval
 * (from its id), and is due at the first instant of its phase at least half an interval after `finishedAt`.
 * So the connections of a store are spread evenly over the interval instead of coming due together after a
 * burst, and each keeps a steady period of one interval.
 */
export function nextPhaseAt(connectionId: string, finishedAt: number, intervalMs: number): number {
  const phase = hash32(connectionId) % intervalMs
  const earliest = finishedAt + Math.ceil(intervalMs / 2)
  const offset = (((phase - earliest) % intervalMs) + intervalMs) % intervalMs
  return earliest + offset
}

/**
 * Delay after the `failures`-th transient failure in a row: exponential from `baseMs`, never sooner than the normal
 * interval, plus up to half of that at random so failing connections do not retry in lockstep, capped at `maxMs`
 * (or the interval, when that is longer).
 */
export function backoffDelay(
  failures: number,
  backoff: { baseMs: number; maxMs: number },
  intervalMs: number,
  random: () => number,
): number {
  const exponential = backoff.baseMs * 2 ** Math.min(Math.max(failures - 1, 0), 30)
  const floor = Math.max(intervalMs, Math.min(backoff.maxMs, exponential))
  return Math.round(Math.min(Math.max(backoff.maxMs, intervalMs), floor * (1 + random() / 2)))
}
