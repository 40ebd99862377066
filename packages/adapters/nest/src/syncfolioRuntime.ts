import type { IncomingMessage, ServerResponse } from 'node:http'
import { type BeforeApplicationShutdown, Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common'
import { type Scheduler, SyncError, type SyncHandler, type SyncHandlerScheduler } from '@syncfolio/core'
import { isEventStream, problemResponse, sendFetchResponse, toFetchRequest } from '@syncfolio/core/node'
import { createNamedSyncHandler } from '@syncfolio/core/runner'
import type { ResolvedRuntimeOptions, ResolvedStaticOptions } from './options.js'
import { SYNCFOLIO_RUNTIME_OPTIONS, SYNCFOLIO_SCHEDULER, SYNCFOLIO_STATIC_OPTIONS } from './tokens.js'

/** Fastify's reply as far as this module uses it: Node's response underneath, and a way to take it over. */
interface HijackableReply {
  raw: ServerResponse
  hijack(): void
}

/**
 * The module's moving part: starts the schedule on bootstrap (unless `role: 'api'`), drains it on shutdown, logs
 * its own steps and the API's failures through Nest's Logger, and answers the API's requests with the core handler.
 */
export class SyncfolioRuntime implements OnApplicationBootstrap, BeforeApplicationShutdown {
  readonly #logger = new Logger('Syncfolio')
  readonly #scheduler: Scheduler
  readonly #static: ResolvedStaticOptions
  readonly #runtime: ResolvedRuntimeOptions
  readonly #handler: SyncHandler | null
  /** Fetch request -> the platform's request it was made from, for `resolveUser`. */
  readonly #origins = new WeakMap<Request, unknown>()
  /** Aborts the event streams open now, so `app.close()` does not wait for their clients to leave. */
  readonly #streams = new Set<AbortController>()
  #closing = false
  #streamsEnded = false

  constructor(scheduler: Scheduler, staticOptions: ResolvedStaticOptions, runtimeOptions: ResolvedRuntimeOptions) {
    this.#scheduler = scheduler
    this.#static = staticOptions
    this.#runtime = runtimeOptions
    // The scheduler's own problems reach the log through its `logger` (Nest's by default, see SyncfolioModule).
    this.#handler = staticOptions.role === 'scheduler' ? null : this.#createHandler()
  }

  onApplicationBootstrap(): void {
    const exchanges = this.#scheduler.exchanges.join(', ')
    // A given scheduler is always started: its own role (a BullmqScheduler's `api`) says what starting runs.
    if (this.#static.role === 'api' && this.#runtime.given === null) {
      this.#logger.log(`Serving the API for ${exchanges}; the schedule runs elsewhere (role "api")`)
      return
    }
    this.#scheduler.start()
    this.#logger.log(`Syncing ${exchanges} in the background (role "${this.#static.role}")`)
  }

  /**
   * Runs before Nest closes the HTTP server: manual syncs are refused from here on, the syncs in flight are waited
   * for (aborted after `shutdownTimeoutMs`), then open event streams are ended so the server can close.
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.#closing = true
    const { inFlight } = this.#scheduler.stats()
    if (inFlight > 0) {
      this.#logger.log(`Waiting for ${inFlight} sync(s) in flight (at most ${this.#runtime.shutdownTimeoutMs} ms)`)
    }
    await this.#scheduler.stop({ timeoutMs: this.#runtime.shutdownTimeoutMs })
    this.#streamsEnded = true
    for (const stream of this.#streams) stream.abort()
    this.#streams.clear()
    this.#logger.log('Stopped: no sync is running, and none starts from here')
  }

  /** Answers one API request; `path` is the route part the core handler matches, e.g. `/connections/abc`. */
  async serve(req: unknown, res: unknown, path: string): Promise<void> {
    const handler = this.#handler
    if (handler === null) throw new Error('The syncfolio API is not served in role "scheduler".')
    const { carrier, nodeReq, nodeRes } = unwrap(req, res)
    const controller = new AbortController()
    // 'close' also fires after a response that finished; only an unfinished one means the client left.
    nodeRes.once('close', () => {
      if (!nodeRes.writableFinished) controller.abort()
    })
    // The handler sees only its own route part: the app's global prefix, RouterModule paths and versions stay out.
    const url = (nodeReq as IncomingMessage & { originalUrl?: string }).originalUrl ?? nodeReq.url ?? '/'
    const queryAt = url.indexOf('?')
    let response: Response
    try {
      const request = toFetchRequest(nodeReq, {
        url: `${path}${queryAt === -1 ? '' : url.slice(queryAt)}`,
        signal: controller.signal,
        parsedBody: carrier.body,
        rawBody: carrier.rawBody,
      })
      if (request === null) {
        response = methodNotAllowed()
      } else {
        this.#origins.set(request, req)
        response = await handler(request)
      }
    } catch (error) {
      // A parsed body that cannot be JSON again (thousands of nested arrays) is the client's 400, not a 500.
      response = problemResponse(error)
    }
    const live = isEventStream(response)
    if (live) {
      this.#streams.add(controller)
      if (this.#streamsEnded) controller.abort()
    }
    try {
      await sendFetchResponse(response, nodeRes, controller.signal)
    } finally {
      this.#streams.delete(controller)
    }
  }

  #createHandler(): SyncHandler {
    const { scheduler: schedulerOptions, http, resolveUser } = this.#runtime
    const scheduler = this.#scheduler
    const userOf = resolveUser as NonNullable<typeof resolveUser>
    // After shutdown began, a manual sync or a key check would call an exchange after the drain: both end as
    // CANCELLED instead.
    const gated: SyncHandlerScheduler = {
      get exchanges() {
        return scheduler.exchanges
      },
      syncNow: (connectionId) =>
        this.#closing
          ? Promise.resolve({ ok: false, connectionId, error: shuttingDown() })
          : scheduler.syncNow(connectionId),
      verifyCredentials: (request, options) =>
        this.#closing
          ? Promise.resolve({ ok: false, error: shuttingDown() })
          : scheduler.verifyCredentials(request, options),
      markActive: (userId) => scheduler.markActive(userId),
      health: () => scheduler.health(),
      on: (event, listener) => scheduler.on(event, listener),
      off: (event, listener) => scheduler.off(event, listener),
    }
    // Errors in the HTTP options (a useFactory's result is checked here) name the module, not the handler inside.
    return createNamedSyncHandler('SyncfolioModule', {
      ...http,
      scheduler: gated,
      store: schedulerOptions.store,
      ...(schedulerOptions.clock !== undefined && { clock: schedulerOptions.clock }),
      // The user id never travels in a header a client could forge: it comes from the platform's own request.
      resolveUser: (request) => {
        const origin = this.#origins.get(request)
        return origin === undefined ? null : userOf(origin)
      },
      onError: (error) => {
        const message = error instanceof Error ? error.message : String(error)
        this.#logger.error(`The HTTP API failed: ${message}`, error instanceof Error ? error.stack : undefined)
      },
    })
  }
}

// Decorators as calls, for the reason given in createSyncfolioController.ts.
Injectable()(SyncfolioRuntime)
Inject(SYNCFOLIO_SCHEDULER)(SyncfolioRuntime, undefined, 0)
Inject(SYNCFOLIO_STATIC_OPTIONS)(SyncfolioRuntime, undefined, 1)
Inject(SYNCFOLIO_RUNTIME_OPTIONS)(SyncfolioRuntime, undefined, 2)

/** What the platform's request may carry besides Node's: a body a parser already produced, or its raw bytes. */
interface ParsedBodyCarrier {
  /** The parsed body (Nest's body parser on Express, Fastify's content-type parsers). */
  body?: unknown
  /** The exact bytes, when the app was created with `rawBody: true`. */
  rawBody?: unknown
}

/** Node's request and response under the platform's: Express's are Node's own; Fastify's wrap them. */
function unwrap(
  req: unknown,
  res: unknown,
): { carrier: ParsedBodyCarrier; nodeReq: IncomingMessage; nodeRes: ServerResponse } {
  const reply = res as Partial<HijackableReply>
  if (typeof reply.hijack === 'function' && reply.raw !== undefined) {
    // Fastify would otherwise answer on its own once the route handler returns.
    reply.hijack()
    return {
      carrier: req as ParsedBodyCarrier,
      nodeReq: (req as { raw: IncomingMessage }).raw,
      nodeRes: reply.raw,
    }
  }
  return { carrier: req as ParsedBodyCarrier, nodeReq: req as IncomingMessage, nodeRes: res as ServerResponse }
}

function shuttingDown(): SyncError {
  return new SyncError('CANCELLED', 'The server is shutting down.')
}

function methodNotAllowed(): Response {
  const body = { error: { code: 'METHOD_NOT_ALLOWED', message: 'This method cannot be used here.' } }
  return new Response(JSON.stringify(body), {
    status: 405,
    headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' },
  })
}
