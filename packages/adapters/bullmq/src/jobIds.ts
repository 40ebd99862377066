/** The queue of one exchange's syncs: one per exchange, so one exchange's backlog never sits before another's. */
export function syncQueueName(exchange: string): string {
  return `sync-${exchange}`
}

/** The queue the cluster's due-scan jobs go through (one Job Scheduler feeds it). */
export const SCAN_QUEUE = 'scan'

/** The Job Scheduler's id: every process upserts the same one, so the cluster has one scan per interval. */
export const SCAN_SCHEDULER = 'due-scan'

/**
 * The one job id of a connection's sync: BullMQ adds no second job under an id that is queued or running, which is
 * how a connection has at most one sync anywhere. Connection ids may hold anything (a `:` BullMQ refuses, digits it
 * takes for its own ids), so the id is base64url-encoded behind a letter.
 */
export function syncJobId(connectionId: string): string {
  return `c${Buffer.from(connectionId, 'utf8').toString('base64url')}`
}
