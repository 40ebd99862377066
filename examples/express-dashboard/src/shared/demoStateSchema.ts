import { z } from 'zod'

/**
 * `GET /api/demo`: how the demo server is set up and what its fake exchange is doing. Demo-only; a real app has no
 * such route. Shared by the server, which builds it, and the UI, which validates it.
 */
export const demoStateSchema = z.object({
  /** The scheduler's interval: each connection syncs about this often. */
  intervalMs: z.number(),
  /** The demo's shortened staleness threshold (the library's default is 5 minutes). */
  staleAfterMs: z.number(),
  /** Least time between two manual syncs of one connection. */
  manualSyncIntervalMs: z.number(),
  exchanges: z.array(z.object({ id: z.string(), failing: z.boolean() })),
  /** Keys the fake exchange knows. They open nothing but the local fake, so the UI may show them. */
  keys: z.array(
    z.object({
      id: z.string(),
      exchange: z.string(),
      label: z.string(),
      apiKey: z.string(),
      secret: z.string(),
      password: z.string().nullable(),
      revoked: z.boolean(),
      /** A connection of the demo user uses this key. */
      connected: z.boolean(),
    }),
  ),
})

export type DemoState = z.infer<typeof demoStateSchema>
export type DemoKey = DemoState['keys'][number]
