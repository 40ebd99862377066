import { describe, expect, it } from 'vitest'
import { type LaneSnapshot, pickLane } from '../scheduler/fairShare.js'

const lane = (inFlight: number, flags: Partial<LaneSnapshot> = {}): LaneSnapshot => ({
  inFlight,
  ready: true,
  loading: false,
  waitMs: Number.POSITIVE_INFINITY,
  hanging: false,
  ...flags,
})

describe('pickLane (the fair-share rule)', () => {
  it('gives the slot to the ready lane with the fewest syncs in flight', () => {
    expect(pickLane([lane(2), lane(0), lane(1)], 5, 3, 0)).toBe(1)
  })

  it('takes turns from `turn` on ties', () => {
    expect(pickLane([lane(1), lane(1), lane(1)], 6, 3, 0)).toBe(0)
    expect(pickLane([lane(1), lane(1), lane(1)], 6, 3, 1)).toBe(1)
    expect(pickLane([lane(1), lane(1), lane(1)], 6, 3, 2)).toBe(2)
  })

  it('answers -1 when no slot is free or no lane is ready', () => {
    expect(pickLane([lane(2), lane(2)], 4, 4, 0)).toBe(-1)
    expect(pickLane([lane(0, { ready: false }), lane(0, { ready: false })], 4, 0, 0)).toBe(-1)
    expect(pickLane([], 4, 0, 0)).toBe(-1)
  })

  it('lets a lane that waits (pause, budget) hold no slot: the ready lane may take them all', () => {
    // A waiting lane with nothing in flight is owed nothing: the other lane gets a third and a fourth slot.
    expect(pickLane([lane(0, { ready: false }), lane(2)], 4, 2, 0)).toBe(1)
    expect(pickLane([lane(0, { ready: false }), lane(3)], 4, 3, 0)).toBe(1)
  })

  it('keeps the share of a lane whose next page is loading', () => {
    // Two of four slots belong to the loading lane: the ready lane at its share gets no third one.
    expect(pickLane([lane(0, { ready: false, loading: true }), lane(2)], 4, 2, 0)).toBe(-1)
    expect(pickLane([lane(0, { ready: false, loading: true }), lane(1)], 4, 1, 0)).toBe(1)
  })

  it('keeps the share of a lane whose wait ends within the horizon', () => {
    const horizons = { anyMs: 1_000, hangingMs: 30_000 }
    const waitingBriefly = lane(0, { ready: false, waitMs: 500 })
    const waitingLonger = lane(0, { ready: false, waitMs: 20_000 })
    // Half a second: its two of four slots stay free for it.
    expect(pickLane([waitingBriefly, lane(2)], 4, 2, 0, horizons)).toBe(-1)
    // Twenty seconds: a healthy lane takes its slots...
    expect(pickLane([waitingLonger, lane(2)], 4, 2, 0, horizons)).toBe(1)
    // ...but a hanging lane, which would hold them until its calls time out, does not.
    expect(pickLane([waitingLonger, lane(0, { hanging: true }), lane(1, { hanging: true })], 4, 1, 0, horizons)).toBe(1)
    expect(pickLane([waitingLonger, lane(1, { hanging: true }), lane(1, { hanging: true })], 4, 2, 0, horizons)).toBe(
      -1,
    )
    // Past every horizon (a ten-minute pause): nobody keeps its share.
    const paused = lane(0, { ready: false, waitMs: 600_000 })
    expect(pickLane([paused, lane(3, { hanging: true })], 4, 3, 0, horizons)).toBe(1)
  })

  it('owes a hanging lane one slot while a healthy one is ready', () => {
    // Hanging lane at one slot, healthy lane at two: the free slot goes to the healthy one.
    expect(pickLane([lane(1, { hanging: true }), lane(2)], 4, 3, 0)).toBe(1)
    // A hanging lane with no slot yet gets its one.
    expect(pickLane([lane(0, { hanging: true }), lane(3)], 4, 3, 0)).toBe(0)
    // Alone, hanging lanes share the cap.
    expect(pickLane([lane(1, { hanging: true }), lane(1, { hanging: true })], 4, 2, 0)).toBe(0)
  })

  it('lets a lane past its share use a slot nobody else is owed', () => {
    // Lane 0 at its share of 2, lane 1 ready with 2: a fifth slot of six is free and owed to nobody.
    expect(pickLane([lane(3), lane(2)], 6, 5, 0)).toBe(1)
    expect(pickLane([lane(3), lane(3, { ready: false })], 6, 6, 0)).toBe(-1)
  })
})
