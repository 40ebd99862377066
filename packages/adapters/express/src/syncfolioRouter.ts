import type { ServerResponse } from 'node:http'
import {
  createSyncHandler,
  InvalidOptionError,
  type ResolveUser,
  type SyncHandler,
  type SyncHandlerOptions,
} from '@syncfolio/core'
import { sendFetchResponse, toFetchRequest } from '@syncfolio/core/node'
import type { Request as ExpressRequest, NextFunction, RequestHandler } from 'express'

export interface SyncfolioRouterOptions extends Omit<SyncHandlerOptions, 'resolveUser' | 'basePath'> {
  /**
   * Who is asking, from Express's own request, so your auth middleware's result is at hand:
   * `(req) => req.user?.id ?? null`. Null or undefined answers 401. May be async.
   */
  resolveUser: ResolveUser<ExpressRequest>
}

/**
 * The syncfolio HTTP API as Express middleware. Mount it at any path with `app.use('/api/syncfolio', ...)` (or
 * `router.use`): Express strips the mount path, so routes are matched on what follows it. Every request under the
 * mount is answered here (unknown routes with a JSON 404). Request bodies stream into the core handler, which
 * enforces its size limit while reading; a body an earlier `express.json()` already parsed is used as parsed.
 * `GET /events` is streamed as it is produced, and a client that leaves aborts it.
 *
 * Other options are the core handler's (`scheduler`, `store`, limits, `clock`, `onError`) and are
 * validated here, once.
 */
export function syncfolioRouter(options: SyncfolioRouterOptions): RequestHandler {
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
  const handler = createSyncHandler({
    ...rest,
    resolveUser: (request) => {
      const req = origins.get(request)
      return req ? resolveUser(req) : null
    },
  })
  return (req, res, next) => {
    serve(handler, origins, req, res, next).catch(next)
  }
}

async function serve(
  handler: SyncHandler,
  origins: WeakMap<Request, ExpressRequest>,
  req: ExpressRequest,
  res: ServerResponse,
  next: NextFunction,
): Promise<void> {
  const controller = new AbortController()
  // Express strips the mount path from req.url, so the handler matches what follows it.
  const request = toFetchRequest(req, { signal: controller.signal, parsedBody: req.body })
  if (request === null) return next()
  // 'close' also fires after a response that finished normally; only an unfinished one means the client left.
  res.once('close', () => {
    if (!res.writableFinished) controller.abort()
  })
  origins.set(request, req)
  const response = await handler(request)
  await sendFetchResponse(response, res, controller.signal)
}
