export type { DisposeInstrumentation, InstrumentSchedulerOptions } from './instrumentScheduler.js'
export { instrumentScheduler } from './instrumentScheduler.js'
