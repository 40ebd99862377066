import type { Trigger } from '@syncfolio/core/runner'
import { z } from 'zod'

/** What a sync job carries; the connection itself is read afresh when the job runs. */
export interface SyncJobData {
  connectionId: string
  trigger: Trigger
  /** The `nextSyncAt` the scan saw (or when it was requested): a job whose connection moved past it is done. */
  dueAt: number
  /** Manual jobs: answered RATE_LIMITED at once when a pause or budget would keep them waiting past this. */
  waitUntil?: number
}

// Jobs come out of Redis: another version, a stray script or a hostile writer may have put anything there.
const jobDataSchema = z.object({
  connectionId: z.string().min(1).max(1_000),
  trigger: z.enum(['sweep', 'manual']),
  dueAt: z.number().nonnegative(),
  waitUntil: z.number().nonnegative().optional(),
})

/** The job's data, or why it is not a sync job of ours (the first field that is wrong). */
export function parseJobData(data: unknown): { ok: true; data: SyncJobData } | { ok: false; reason: string } {
  const parsed = jobDataSchema.safeParse(data)
  if (parsed.success) return { ok: true, data: parsed.data }
  const issue = parsed.error.issues[0]
  const path = issue?.path.map(String).join('.') || '(data)'
  return { ok: false, reason: `${path}: ${issue?.message ?? 'invalid'}` }
}
