/** What the fair-share rule sees of one exchange's lane. */
export interface LaneSnapshot {
  /** Syncs of this lane in flight. */
  readonly inFlight: number
  /** It has a job that may start now: not paused, not waiting for budget, under its own cap. */
  readonly ready: boolean
  /** Its next jobs are being read from the store: not ready yet, but owed its share, which it will need at once. */
  readonly loading: boolean
  /** Its recent calls kept timing out. */
  readonly hanging: boolean
}

/**
 * Which lane gets the next free slot of the global cap, as a pure function of a snapshot. Only lanes that are
 * ready (or loading their next page) count: a lane waiting for a pause or a budget holds no slot another lane could
 * use. Of the ready lanes,
 * the one with the fewest syncs in flight wins, taking turns from `turn` on ties. A lane at or past its fair share
 * only gets a slot that no other ready lane is owed, so an exchange whose calls hang cannot collect every slot
 * while another has work; a hanging lane is owed a single slot while a healthy one is ready.
 * Returns the index of the lane, or -1 when none may start.
 */
export function pickLane(lanes: readonly LaneSnapshot[], concurrency: number, running: number, turn: number): number {
  const free = concurrency - running
  if (free <= 0 || lanes.length === 0) return -1
  let hanging = 0
  let healthy = 0
  for (const lane of lanes) {
    if (!lane.ready && !lane.loading) continue
    if (lane.hanging) hanging++
    else healthy++
  }
  if (hanging + healthy === 0 || !lanes.some((lane) => lane.ready)) return -1
  const fairShare =
    healthy > 0
      ? Math.max(1, Math.floor((concurrency - hanging) / healthy))
      : Math.max(1, Math.floor(concurrency / hanging))
  const shareOf = (lane: LaneSnapshot) => (healthy > 0 && lane.hanging ? 1 : fairShare)
  let owed = 0
  for (const lane of lanes) if (lane.ready || lane.loading) owed += Math.max(0, shareOf(lane) - lane.inFlight)
  let best = -1
  for (let step = 0; step < lanes.length; step++) {
    const index = (turn + step) % lanes.length
    const lane = lanes[index] as LaneSnapshot
    if (!lane.ready) continue
    const ownDue = Math.max(0, shareOf(lane) - lane.inFlight)
    if (ownDue === 0 && free - 1 < owed) continue
    if (best === -1 || lane.inFlight < (lanes[best] as LaneSnapshot).inFlight) best = index
  }
  return best
}
