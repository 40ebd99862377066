import { useEffect, useState } from 'react'

/** The current time, re-rendering every `everyMs`: for status lines that count seconds ("next sync in 4 s"). */
export function useNow(everyMs = 1_000): number {
  const [now, setNow] = useState(Date.now)
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs)
    return () => clearInterval(timer)
  }, [everyMs])
  return now
}
