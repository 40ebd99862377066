import { SYNC_ERROR_CODES, SyncError, type SyncErrorCode, type SyncSchedulerEvents } from '@syncfolio/core'
import { balanceSchema } from '@syncfolio/core/client'
import { z } from 'zod'

/** The events every process of the cluster re-emits, whichever process they happened in. */
export const CLUSTER_EVENTS = [
  'sync:start',
  'sync:success',
  'sync:failure',
  'sweep:end',
  'connection:disabled',
  'ratelimit',
] as const satisfies ReadonlyArray<keyof SyncSchedulerEvents>

export type ClusterEventName = (typeof CLUSTER_EVENTS)[number]

/**
 * One message on the cluster's channel: an event, or the answer to a manual sync that a worker turned away
 * without running it (a pause past its deadline, a removed connection), for the process whose `syncNow` waits.
 */
export type ClusterMessage =
  | { kind: 'event'; name: ClusterEventName; payload: Parameters<SyncSchedulerEvents[ClusterEventName]>[0] }
  | { kind: 'refused'; connectionId: string; error: SyncError }

/** What `decodeMessage` makes of a text: the message, or why it is not one. */
export type Decoded = { ok: true; message: ClusterMessage } | { ok: false; reason: string }

interface WireError {
  code: SyncErrorCode
  message: string
  retryAfterMs?: number
  scope?: 'exchange' | 'account'
}

/** JSON for the channel; a SyncError travels as its code, message, `retryAfterMs` and `scope` (never its cause). */
export function encodeMessage(message: ClusterMessage): string {
  return JSON.stringify(message, (key, value: unknown) => {
    if (key === 'error' && value instanceof SyncError) return wireError(value)
    return value
  })
}

// Anyone with access to Redis can publish on the channel (another version, a stray script, a hostile writer): a
// message is taken only when every field has the type and range the events promise, with unknown fields dropped.
const id = z.string().min(1).max(1_000)
const text = z.string().max(1_000)
const time = z.number().nonnegative()
const count = z.number().int().nonnegative()

/** An unknown code (a newer version's) becomes UNKNOWN; a number or scope out of range is no SyncError of ours. */
const wireErrorSchema = z
  .object({
    code: z.string(),
    message: z.string().max(10_000),
    retryAfterMs: z.number().nonnegative().optional(),
    scope: z.enum(['exchange', 'account']).optional(),
  })
  .transform((wire) => toSyncError(wire))

const syncBase = {
  connectionId: id,
  userId: text,
  exchange: text,
  trigger: z.enum(['sweep', 'manual']),
  worker: text.optional(),
}

const payloadSchemas = {
  'sync:start': z.object({ ...syncBase, startedAt: time, lastSyncAt: time.nullable() }),
  'sync:success': z.object({
    ...syncBase,
    balances: z.array(balanceSchema),
    startedAt: time,
    finishedAt: time,
    nextSyncAt: time,
  }),
  'sync:failure': z.object({
    ...syncBase,
    error: wireErrorSchema,
    startedAt: time,
    finishedAt: time,
    nextSyncAt: time.nullable(),
    disabled: z.boolean(),
  }),
  'sweep:end': z.object({
    exchange: id,
    attempted: count,
    succeeded: count,
    failed: count,
    startedAt: time,
    finishedAt: time,
  }),
  'connection:disabled': z.object({ connectionId: id, userId: text, exchange: text, error: wireErrorSchema }),
  ratelimit: z.object({
    exchange: id,
    scope: z.enum(['exchange', 'account']),
    key: id,
    // A pause that ended while the event travelled is a wait of 0.
    waitMs: z.number().transform((waitMs) => Math.max(0, waitMs)),
    reason: z.enum(['budget', 'retry-after']),
  }),
} satisfies Record<ClusterEventName, z.ZodType>

const envelopeSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('event'), name: z.enum(CLUSTER_EVENTS), payload: z.unknown() }),
  z.object({ kind: z.literal('refused'), connectionId: id, error: wireErrorSchema }),
])

/** The message, or why the text is not one of ours (not JSON, another shape, a field out of range). */
export function decodeMessage(text: string): Decoded {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return { ok: false, reason: 'not JSON' }
  }
  const envelope = envelopeSchema.safeParse(parsed)
  if (!envelope.success) return { ok: false, reason: describe(envelope.error) }
  if (envelope.data.kind === 'refused') return { ok: true, message: envelope.data }
  const { name } = envelope.data
  const payload = payloadSchemas[name].safeParse(envelope.data.payload)
  if (!payload.success) return { ok: false, reason: `${name}: ${describe(payload.error, 'payload')}` }
  return { ok: true, message: { kind: 'event', name, payload: payload.data } as ClusterMessage }
}

function describe(error: z.ZodError, root?: string): string {
  const issue = error.issues[0]
  if (!issue) return 'invalid'
  const path = [root, ...issue.path.map(String)].filter((part) => part !== undefined).join('.')
  return `${path || '(message)'}: ${issue.message}`
}

function wireError(error: SyncError): WireError {
  const wire: WireError = { code: error.code, message: error.message }
  if (error.retryAfterMs !== undefined) wire.retryAfterMs = error.retryAfterMs
  if (error.scope !== undefined) wire.scope = error.scope
  return wire
}

function toSyncError(wire: { code: string; message: string; retryAfterMs?: number; scope?: WireError['scope'] }) {
  const code = SYNC_ERROR_CODES.includes(wire.code as SyncErrorCode) ? (wire.code as SyncErrorCode) : 'UNKNOWN'
  return new SyncError(code, wire.message, { retryAfterMs: wire.retryAfterMs, scope: wire.scope })
}
