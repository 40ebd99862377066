// @vitest-environment jsdom
import { act, cleanup, render, screen } from '@testing-library/react'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { StalenessBadge } from '../StalenessBadge.js'
import { useStaleness } from '../useStaleness.js'

// Plain fake timers: nothing here waits for the network, so time moves only when the test says, to the millisecond.
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0)
const MINUTE = 60_000

beforeEach(() => {
  vi.useFakeTimers()
  vi.setSystemTime(T0)
})
afterEach(() => {
  cleanup()
  vi.useRealTimers()
})

const advance = (ms: number) => act(() => vi.advanceTimersByTime(ms))

/** Counts its renders, to tell one timer at the flip from an interval that re-renders all along. */
function Probe(props: { syncedAt: number | null; renders: { count: number }; now?: () => number }) {
  props.renders.count++
  const staleness = useStaleness(props.syncedAt, props.now ? { now: props.now } : {})
  return <p data-testid="probe">{`${staleness.state} ${staleness.staleAt ?? '-'}`}</p>
}

function Short() {
  return <p data-testid="short">{useStaleness(T0, { staleAfterMs: 30_000 }).state}</p>
}

function Bad() {
  useStaleness(T0, { staleAfterMs: Number.NaN })
  return null
}

describe('useStaleness', () => {
  it('flips to stale exactly 5 minutes after the sync, with one re-render from one timer', () => {
    const renders = { count: 0 }
    render(<Probe syncedAt={T0} renders={renders} />)
    expect(screen.getByTestId('probe').textContent).toBe(`fresh ${T0 + 5 * MINUTE}`)
    expect(vi.getTimerCount()).toBe(1)

    advance(5 * MINUTE - 1)
    expect(screen.getByTestId('probe').textContent).toBe(`fresh ${T0 + 5 * MINUTE}`)
    // Nothing rendered while the answer could not change: a timer for the flip, not an interval.
    expect(renders.count).toBe(1)

    advance(1)
    expect(screen.getByTestId('probe').textContent).toBe(`stale ${T0 + 5 * MINUTE}`)
    expect(renders.count).toBe(2)
    // Stale stays stale until a new sync: no timer left.
    expect(vi.getTimerCount()).toBe(0)
    advance(60 * MINUTE)
    expect(renders.count).toBe(2)
  })

  it('counts from the sync, not from the render', () => {
    render(<Probe syncedAt={T0 - 4 * MINUTE} renders={{ count: 0 }} />)
    advance(MINUTE - 1)
    expect(screen.getByTestId('probe').textContent).toMatch(/^fresh/)
    advance(1)
    expect(screen.getByTestId('probe').textContent).toMatch(/^stale/)
  })

  it('never flips a tick early, even when the timer fires before the clock it is judged by', () => {
    // `now` is a clock the test moves by hand; the timer fires on the fake timers' clock, which runs ahead.
    let clock = T0
    const renders = { count: 0 }
    render(<Probe syncedAt={T0} renders={renders} now={() => clock} />)
    clock = T0 + 5 * MINUTE - 10
    advance(5 * MINUTE)
    expect(screen.getByTestId('probe').textContent).toMatch(/^fresh/)
    expect(vi.getTimerCount()).toBe(1)
    clock = T0 + 5 * MINUTE
    advance(10)
    expect(screen.getByTestId('probe').textContent).toMatch(/^stale/)
  })

  it('is fresh again after a new sync, and re-arms for the new time', () => {
    const { rerender } = render(<Probe syncedAt={T0} renders={{ count: 0 }} />)
    advance(6 * MINUTE)
    expect(screen.getByTestId('probe').textContent).toMatch(/^stale/)
    rerender(<Probe syncedAt={T0 + 6 * MINUTE} renders={{ count: 0 }} />)
    expect(screen.getByTestId('probe').textContent).toMatch(/^fresh/)
    advance(5 * MINUTE - 1)
    expect(screen.getByTestId('probe').textContent).toMatch(/^fresh/)
    advance(1)
    expect(screen.getByTestId('probe').textContent).toMatch(/^stale/)
  })

  it('is `never` before the first sync, with no timer', () => {
    render(<Probe syncedAt={null} renders={{ count: 0 }} />)
    expect(screen.getByTestId('probe').textContent).toBe('never -')
    expect(vi.getTimerCount()).toBe(0)
  })

  it('honours staleAfterMs and rejects a bad one', () => {
    render(<Short />)
    advance(29_999)
    expect(screen.getByTestId('short').textContent).toBe('fresh')
    advance(1)
    expect(screen.getByTestId('short').textContent).toBe('stale')

    vi.spyOn(console, 'error').mockImplementation(() => undefined)
    expect(() => render(<Bad />)).toThrow(/staleAfterMs.*received NaN/)
  })
})

describe('StalenessBadge', () => {
  const badgeOf = (region: HTMLElement) => region.closest('.syncfolio-badge') as HTMLElement

  it('appears exactly when 5 minutes pass without a successful sync, not a tick earlier', () => {
    render(<StalenessBadge syncedAt={T0} status="active" locale="en" />)
    const region = screen.getByRole('status')
    expect(region.textContent).toBe('Up to date')
    expect(badgeOf(region).dataset.state).toBe('fresh')

    advance(5 * MINUTE - 1)
    expect(region.textContent).toBe('Up to date')
    expect(badgeOf(region).dataset.state).toBe('fresh')

    advance(1)
    expect(screen.getByRole('status')).toBe(region)
    expect(region.textContent).toBe('Stale')
    expect(badgeOf(region).dataset.state).toBe('stale')
  })

  it('shows the time of the last sync in a <time dateTime>, outside the status region', () => {
    const { container } = render(<StalenessBadge syncedAt={T0 - 3 * MINUTE} status="active" locale="en" />)
    const time = container.querySelector('time') as HTMLTimeElement
    expect(time.dateTime).toBe('2026-01-01T11:57:00.000Z')
    expect(time.textContent).toBe('3 minutes ago')
    expect(time.title).not.toBe('')
    expect(screen.getByRole('status').contains(time)).toBe(false)
  })

  it('keeps the status region mounted and changes its text only when the state changes', async () => {
    const { container, rerender } = render(<StalenessBadge syncedAt={T0} status="active" locale="en" />)
    const region = screen.getByRole('status')
    const time = container.querySelector('time') as HTMLTimeElement
    const announced: string[] = []
    const observer = new MutationObserver(() => announced.push(region.textContent ?? ''))
    observer.observe(region, { childList: true, characterData: true, subtree: true })
    const times: string[] = []
    const timeObserver = new MutationObserver(() => times.push(time.textContent ?? ''))
    timeObserver.observe(time, { childList: true, characterData: true, subtree: true })

    // Ten minutes in steps of 30 s: the relative time moves on every minute, the state flips once.
    for (let step = 0; step < 20; step++) await act(async () => vi.advanceTimersByTime(30_000))
    expect(announced).toEqual(['Stale'])
    expect(time.textContent).toBe('10 minutes ago')
    expect(times.length).toBeGreaterThanOrEqual(9)

    // A new sync: fresh again, in the same region.
    await act(async () => rerender(<StalenessBadge syncedAt={T0 + 10 * MINUTE} status="active" locale="en" />))
    expect(screen.getByRole('status')).toBe(region)
    expect(announced).toEqual(['Stale', 'Up to date'])

    // A parent re-rendering with the same state changes nothing in the region.
    await act(async () => rerender(<StalenessBadge syncedAt={T0 + 10 * MINUTE} status="active" locale="en" />))
    expect(announced).toEqual(['Stale', 'Up to date'])
    observer.disconnect()
    timeObserver.disconnect()
  })

  it('says "Reconnect needed" for a connection in error, whatever the time', () => {
    const { rerender } = render(<StalenessBadge syncedAt={T0} status="error" />)
    const region = screen.getByRole('status')
    expect(region.textContent).toBe('Reconnect needed')
    expect(badgeOf(region).dataset.state).toBe('error')
    advance(10 * MINUTE)
    expect(region.textContent).toBe('Reconnect needed')

    rerender(<StalenessBadge syncedAt={T0 + 10 * MINUTE} status="active" />)
    expect(screen.getByRole('status')).toBe(region)
    expect(region.textContent).toBe('Up to date')
  })

  it('says "Not synced yet" before the first sync, with the region mounted and no time', () => {
    const { container } = render(<StalenessBadge syncedAt={null} status="active" />)
    expect(screen.getByRole('status').textContent).toBe('Not synced yet')
    expect(badgeOf(screen.getByRole('status')).dataset.state).toBe('never')
    expect(container.querySelector('time')).toBeNull()
  })

  it('takes labels, a threshold, a class name and span attributes', () => {
    render(
      <StalenessBadge
        syncedAt={T0}
        staleAfterMs={30_000}
        labels={{ stale: 'Veraltet' }}
        className="mine"
        data-testid="badge"
        locale="de"
      />,
    )
    const badge = screen.getByTestId('badge')
    expect(badge.className).toBe('syncfolio-badge mine')
    advance(30_000)
    expect(screen.getByRole('status').textContent).toBe('Veraltet')
    expect(badge.querySelector('time')?.textContent).toBe('jetzt')
  })
})
