import type { ServerResponse } from 'node:http'
import { InvalidOptionError, type ResolveUser, type SyncHandler, type SyncHandlerOptions } from '@syncfolio/core'
import { problemResponse, sendFetchResponse, toFetchRequest } from '@syncfolio/core/node'
import { createNamedSyncHandler } from '@syncfolio/core/runner'
import type { Request as ExpressRequest, NextFunction, RequestHandler } from 'express'

/**
 * The request type `resolveUser` sees unless you name your own: Express's request with the `user` an auth
 * middleware (passport, your session code) usually sets, so `(req) => req.user?.id ?? null` compiles as written.
 */
export type SyncfolioRequest = ExpressRequest & { user?: { id?: string | null } | undefined }

export interface SyncfolioRouterOptions<R extends ExpressRequest = SyncfolioRequest>
  extends Omit<SyncHandlerOptions, 'resolveUser' | 'basePath'> {
  /**
   * Who is asking, from Express's own request, so your auth middleware's result is at hand:
   * `(req) => req.user?.id ?? null`. Null or undefined answers 401. May be async. Name your own request type
   * with `syncfolioRouter<MyRequest>(...)` when your middleware sets something else.
   */
  resolveUser: ResolveUser<R>
}

/** The router: Express middleware, plus `close()` to end the open event streams before the server closes. */
export interface SyncfolioRouter extends RequestHandler {
  /**
   * Ends every open `GET /events` stream cleanly (the last event whole, then the end of the chunked body), so
   * `server.close()` can finish without cutting a stream mid-event. Streams opened later are ended at once.
   */
  close(): void
}

/**
 * The syncfolio HTTP API as Express middleware. Mount it at any path with `app.use('/api/syncfolio', ...)` (or
 * `router.use`): Express strips the mount path, so routes are matched on what follows it. Every request under the
 * mount is answered here (unknown routes with a JSON 404). Request bodies stream into the core handler, which
 * enforces its size limit while reading; a body an earlier `express.json()` already parsed is used as parsed.
 * `GET /events` is streamed as it is produced, and a client that leaves aborts it; call `close()` on shutdown.
 * Every failure is a JSON problem answer, never Express's error page.
 *
 * Other options are the core handler's (`scheduler`, `store`, limits, `clock`, `onError`) and are
 * validated here, once.
 */
export function syncfolioRouter<R extends ExpressRequest = SyncfolioRequest>(
  options: SyncfolioRouterOptions<R>,
): SyncfolioRouter {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('syncfolioRouter', '(options)', 'must be an object', options)
  }
  const { resolveUser, ...rest } = options
  if (typeof resolveUser !== 'function') {
    throw new InvalidOptionError('syncfolioRouter', 'resolveUser', 'expected a function', resolveUser)
  }
  if ('basePath' in rest) {
    const problem = 'is not an option here: Express strips the mount path, so mount the router where it belongs'
    throw new InvalidOptionError('syncfolioRouter', 'basePath', problem, (rest as { basePath?: unknown }).basePath)
  }
  // The Fetch request carries no trace of Express's request, so each one is looked up here; nothing about the
  // user ever travels in a header a client could forge.
  const origins = new WeakMap<Request, ExpressRequest>()
  const handler = createNamedSyncHandler('syncfolioRouter', {
    ...rest,
    resolveUser: (request) => {
      const req = origins.get(request)
      return req ? resolveUser(req as R) : null
    },
  })
  const streams = new Streams()
  const router: RequestHandler = (req, res, next) => {
    serve(handler, origins, streams, req, res, next).catch(() => {
      // Only writing to a socket that went away can fail here; there is nobody left to answer.
    })
  }
  return Object.assign(router, { close: () => streams.close() })
}

/** The abort controllers of open event streams, so shutdown can end them. */
class Streams {
  readonly #open = new Set<AbortController>()
  #closed = false

  add(controller: AbortController): void {
    if (this.#closed) controller.abort()
    else this.#open.add(controller)
  }

  delete(controller: AbortController): void {
    this.#open.delete(controller)
  }

  close(): void {
    this.#closed = true
    for (const controller of this.#open) controller.abort()
    this.#open.clear()
  }
}

async function serve(
  handler: SyncHandler,
  origins: WeakMap<Request, ExpressRequest>,
  streams: Streams,
  req: ExpressRequest,
  res: ServerResponse,
  next: NextFunction,
): Promise<void> {
  const controller = new AbortController()
  // 'close' also fires after a response that finished normally; only an unfinished one means the client left.
  res.once('close', () => {
    if (!res.writableFinished) controller.abort()
  })
  let response: Response
  try {
    // Express strips the mount path from req.url, so the handler matches what follows it.
    const request = toFetchRequest(req, { signal: controller.signal, parsedBody: req.body })
    if (request === null) return next()
    origins.set(request, req)
    response = await handler(request)
  } catch (error) {
    response = problemResponse(error)
  }
  streams.add(controller)
  try {
    await sendFetchResponse(response, res, controller.signal)
  } finally {
    streams.delete(controller)
  }
}
