import type { SyncLimiter } from '../limits/syncLimiter.js'
import type { Dispatcher } from './dispatcher.js'
import type { SchedulerHealth } from './events.js'
import type { SchedulerStats } from './syncScheduler.js'

/** What the dispatcher and the limiter say of each lane now: the body of `stats()` of every scheduler. */
export function laneStats(
  dispatcher: Dispatcher,
  limiter: SyncLimiter,
  now: number,
): Pick<SchedulerStats, 'inFlight' | 'queued' | 'exchanges'> {
  const exchanges: SchedulerStats['exchanges'] = {}
  let queued = 0
  for (const lane of dispatcher.lanes) {
    const limits = limiter.stats(lane.exchange, now)
    const pausedUntil = Math.max(limits.pausedUntil ?? 0, lane.blockedUntil)
    const laneQueued = lane.urgent.length + lane.queue.length
    queued += laneQueued
    exchanges[lane.exchange] = {
      inFlight: lane.inFlight,
      queued: laneQueued,
      budgetLeft: limits.budgetLeft,
      pausedUntil: pausedUntil > now ? pausedUntil : null,
      pausedAccounts: limits.pausedAccounts,
    }
  }
  return { inFlight: dispatcher.running, queued, exchanges }
}

export interface HealthInputs {
  now: number
  exchanges: SchedulerStats['exchanges']
  /** Exchange -> end of its last finished sweep (epoch ms). */
  lastSweepAt: ReadonlyMap<string, number>
  /** The store's last failed call, or null once a call succeeded again. */
  storeError: { message: string; at: number } | null
  /** When the scheduler was started, or null while it is not. */
  startedAt: number | null
  intervalMs: number
}

/**
 * `scheduler.health()` of every scheduler: not ok while the store's last call failed, or when a started scheduler
 * has seen no sweep end within two intervals. A paused exchange alone keeps it ok (`pausedUntil` says so).
 */
export function schedulerHealth(inputs: HealthInputs): SchedulerHealth {
  const { now, storeError, startedAt, intervalMs } = inputs
  const exchanges: SchedulerHealth['exchanges'] = {}
  let lastSweep = Number.NEGATIVE_INFINITY
  for (const [id, lane] of Object.entries(inputs.exchanges)) {
    const lastSweepAt = inputs.lastSweepAt.get(id) ?? null
    if (lastSweepAt !== null) lastSweep = Math.max(lastSweep, lastSweepAt)
    const { pausedUntil, budgetLeft, inFlight, queued } = lane
    exchanges[id] = { lastSweepAt, pausedUntil, budgetLeft, inFlight, queued }
  }
  const since = Math.max(lastSweep, startedAt ?? Number.POSITIVE_INFINITY)
  const stalled = startedAt !== null && now - since > 2 * intervalMs
  return { ok: storeError === null && !stalled, exchanges, store: { ok: storeError === null, lastError: storeError } }
}
