import { useEffect, useInsertionEffect, useReducer, useRef } from 'react'

/** The longest delay `setTimeout` honours (about 24.8 days); longer ones fire at once in browsers and Node. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1

/**
 * Re-renders the component once, when `now()` reaches `at` (epoch ms); `null` schedules nothing. One timer set for
 * that moment, not a polling interval: the component renders only when its output can change. A timer that fires
 * early by the clock (browsers clamp and coalesce timers; `now` may be a different clock) is set again for the
 * rest, so the re-render never comes a tick before `at`.
 */
export function useRerenderAt(at: number | null, now: () => number): void {
  const [, rerender] = useReducer((count: number) => count + 1, 0)
  // The latest clock without re-arming the timer when the caller passes a new function each render.
  const clock = useRef(now)
  useInsertionEffect(() => {
    clock.current = now
  })

  useEffect(() => {
    if (at === null) return
    let timer: ReturnType<typeof setTimeout> | undefined
    const check = () => {
      const remaining = at - clock.current()
      if (remaining <= 0) rerender()
      else timer = setTimeout(check, Math.min(remaining, MAX_TIMEOUT_MS))
    }
    check()
    return () => clearTimeout(timer)
  }, [at])
}
