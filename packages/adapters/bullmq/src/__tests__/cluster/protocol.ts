// What a cluster node and its parent say to each other over IPC.

/** A sync event as a node reports it: times in epoch ms on the node's clock (the machine's). */
export type ReportedEvent = ReportedEventBase &
  (
    | { type: 'start' }
    | { type: 'success'; startedAt: number; nextSyncAt: number }
    | { type: 'failure'; startedAt: number; code: string }
  )

interface ReportedEventBase {
  connectionId: string
  /** The process that ran the sync, as the event names it. */
  worker: string | undefined
  trigger: 'sweep' | 'manual'
  /** `startedAt` for a start, `finishedAt` for the others. */
  at: number
}

export type NodeMessage =
  | { type: 'ready'; pid: number }
  | { type: 'event'; event: ReportedEvent }
  | { type: 'ratelimit'; reason: 'budget' | 'retry-after'; waitMs: number }
  | { type: 'outcome'; requestId: number; ok: boolean; code: string | null }
  | { type: 'error'; message: string }
  | { type: 'usage'; requestId: number; cpuMs: number }
  | { type: 'stopped' }

export type ParentMessage =
  | { type: 'syncNow'; requestId: number; connectionId: string }
  /** Asks for the CPU time (user + system) the process has used so far. */
  | { type: 'usage'; requestId: number }
  | { type: 'stop' }
