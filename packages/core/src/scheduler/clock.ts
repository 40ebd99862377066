export type TimerHandle = unknown

/** Everything in syncfolio that reads or waits on time goes through a Clock, so tests can drive it. */
export interface Clock {
  now(): number
  setTimeout(callback: () => void, ms: number): TimerHandle
  clearTimeout(handle: TimerHandle): void
}

export const systemClock: Clock = {
  now: () => Date.now(),
  // Timers are not unref'd: a started scheduler, like a server, keeps the process alive until stop(), and a
  // runOnce() waiting for budget must not let the process exit under it.
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
}
