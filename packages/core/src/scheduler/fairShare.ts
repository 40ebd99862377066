/** What the fair-share rule sees of one exchange's lane. */
export interface LaneSnapshot {
  /** Syncs of this lane in flight. */
  readonly inFlight: number
  /** It has a job that may start now: not paused, not waiting for budget, under its own cap. */
  readonly ready: boolean
  /** Its next jobs are being read from the store: not ready yet, but owed its share, which it will need at once. */
  readonly loading: boolean
  /** How long until it may start again when it waits for a pause or a budget; Infinity when it does not wait. */
  readonly waitMs: number
  /** Its recent calls kept timing out. */
  readonly hanging: boolean
}

/** How long a wait keeps a lane's share: against every lane, and against a lane whose calls hang. */
export interface WaitHorizons {
  /** A lane waiting less than this keeps its share from every other lane. */
  readonly anyMs: number
  /** A lane waiting less than this keeps its share from a hanging lane (one that would hold the slot that long). */
  readonly hangingMs: number
}

/**
 * Which lane gets the next free slot of the global cap, as a pure function of a snapshot. Of the ready lanes, the
 * one with the fewest syncs in flight wins, taking turns from `turn` on ties. A lane at or past its fair share only
 * gets a slot that no other lane is owed. Owed are lanes that are ready or loading their next page, and lanes
 * whose wait (a pause, a budget) ends within a horizon: a short one (`anyMs`) against every lane, a longer one
 * (`hangingMs`) against a hanging lane, whose calls would keep the slot until they time out. A lane that waits
 * longer holds no slot another lane could use. A hanging lane is owed a single slot while a healthy one wants work.
 * Returns the index of the lane, or -1 when none may start.
 */
export function pickLane(
  lanes: readonly LaneSnapshot[],
  concurrency: number,
  running: number,
  turn: number,
  horizons: WaitHorizons = NO_HORIZONS,
): number {
  const free = concurrency - running
  if (free <= 0 || lanes.length === 0) return -1
  let hanging = 0
  let healthy = 0
  let ready = 0
  for (const lane of lanes) {
    if (lane.ready) ready++
    if (!wants(lane, horizons.hangingMs)) continue
    if (lane.hanging) hanging++
    else healthy++
  }
  if (ready === 0) return -1
  const fairShare =
    healthy > 0
      ? Math.max(1, Math.floor((concurrency - hanging) / healthy))
      : Math.max(1, Math.floor(concurrency / Math.max(1, hanging)))
  const healthyWant = healthy > 0
  const owedToAny = owed(lanes, horizons.anyMs, fairShare, healthyWant)
  const owedToHanging =
    horizons.hangingMs === horizons.anyMs ? owedToAny : owed(lanes, horizons.hangingMs, fairShare, healthyWant)
  let best = -1
  for (let step = 0; step < lanes.length; step++) {
    const index = (turn + step) % lanes.length
    const lane = lanes[index] as LaneSnapshot
    if (!lane.ready) continue
    const ownDue = Math.max(0, shareOf(lane, fairShare, healthyWant) - lane.inFlight)
    if (ownDue === 0 && free - 1 < (lane.hanging ? owedToHanging : owedToAny)) continue
    if (best === -1 || lane.inFlight < (lanes[best] as LaneSnapshot).inFlight) best = index
  }
  return best
}

const NO_HORIZONS: WaitHorizons = { anyMs: 0, hangingMs: 0 }

/** Does the lane want slots, counting a wait that ends within `horizonMs`? */
function wants(lane: LaneSnapshot, horizonMs: number): boolean {
  return lane.ready || lane.loading || lane.waitMs <= horizonMs
}

/** A hanging lane's share is one slot while a healthy lane wants work. */
function shareOf(lane: LaneSnapshot, fairShare: number, healthyWant: boolean): number {
  return healthyWant && lane.hanging ? 1 : fairShare
}

/** Slots owed to the lanes that want them within `horizonMs` and have fewer than their share. */
function owed(lanes: readonly LaneSnapshot[], horizonMs: number, fairShare: number, healthyWant: boolean): number {
  let total = 0
  for (const lane of lanes) {
    if (wants(lane, horizonMs)) total += Math.max(0, shareOf(lane, fairShare, healthyWant) - lane.inFlight)
  }
  return total
}
