import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import {
  createSyncHandler,
  InvalidOptionError,
  type ResolveUser,
  type SyncHandler,
  type SyncHandlerOptions,
} from '@syncfolio/core'
import type { Request as ExpressRequest, NextFunction, RequestHandler } from 'express'

export interface SyncfolioRouterOptions extends Omit<SyncHandlerOptions, 'resolveUser' | 'basePath'> {
  /**
   * Who is asking, from Express's own request, so your auth middleware's result is at hand:
   * `(req) => req.user?.id ?? null`. Null or undefined answers 401. May be async.
   */
  resolveUser: ResolveUser<ExpressRequest>
}

/** Methods the Fetch standard refuses to put in a `Request`; they are left to the next middleware. */
const FORBIDDEN_METHODS = new Set(['CONNECT', 'TRACE', 'TRACK'])

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
  const method = (req.method ?? 'GET').toUpperCase()
  if (FORBIDDEN_METHODS.has(method)) return next()
  const controller = new AbortController()
  // 'close' also fires after a response that finished normally; only an unfinished one means the client left.
  res.once('close', () => {
    if (!res.writableFinished) controller.abort()
  })
  const body = requestBody(req, method)
  const headers = toHeaders(req.headers)
  const streamed = body instanceof ReadableStream
  if (body !== null && !streamed) {
    // A body parser's result, serialized again: the original framing headers describe other bytes.
    headers.delete('content-length')
    headers.delete('transfer-encoding')
  }
  const init: RequestInit & { duplex?: 'half' } = { method, headers, body, signal: controller.signal }
  if (streamed) init.duplex = 'half'
  // Concatenated rather than resolved against a base: a path starting with `//` must stay a path, not a host.
  const request = new Request(`http://localhost${req.url ?? '/'}`, init)
  origins.set(request, req)
  const response = await handler(request)
  await writeResponse(response, res, controller.signal)
}

/** Fetch headers from Node's, repeated headers kept, HTTP/2 pseudo-headers left out. */
function toHeaders(incoming: IncomingHttpHeaders): Headers {
  const headers = new Headers()
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || name.startsWith(':')) continue
    if (Array.isArray(value)) for (const item of value) headers.append(name, item)
    else headers.set(name, value)
  }
  return headers
}

function requestBody(req: ExpressRequest, method: string): BodyInit | null {
  if (method === 'GET' || method === 'HEAD') return null
  if (req.readableEnded || !req.readable) {
    // An earlier body parser consumed the stream; what it parsed is all there is.
    const parsed: unknown = req.body
    if (parsed === undefined) return null
    if (typeof parsed === 'string' || parsed instanceof Uint8Array) return parsed as BodyInit
    return JSON.stringify(parsed)
  }
  return streamOf(req)
}

/**
 * The request body as a web stream with backpressure. Cancelling it (the handler refused an oversized body)
 * detaches from the request and lets Node discard the rest, so the answer still reaches the client and the
 * connection stays usable, instead of buffering whatever the client keeps sending.
 */
function streamOf(req: IncomingMessage): ReadableStream<Uint8Array> {
  let detach: () => void = () => undefined
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        const onData = (chunk: Buffer) => {
          controller.enqueue(new Uint8Array(chunk))
          if ((controller.desiredSize ?? 0) <= 0) req.pause()
        }
        const onEnd = () => {
          detach()
          controller.close()
        }
        const onError = (error: Error) => {
          detach()
          controller.error(error)
        }
        const onClose = () => {
          if (!req.complete) onError(new Error('The client closed the connection before the body ended.'))
        }
        detach = () => {
          req.off('data', onData)
          req.off('end', onEnd)
          req.off('error', onError)
          req.off('close', onClose)
        }
        req.on('data', onData)
        req.on('end', onEnd)
        req.on('error', onError)
        req.on('close', onClose)
        req.pause()
      },
      pull() {
        req.resume()
      },
      cancel() {
        detach()
        req.resume()
      },
    },
    { highWaterMark: 4 },
  )
}

async function writeResponse(response: Response, res: ServerResponse, signal: AbortSignal): Promise<void> {
  res.statusCode = response.status
  response.headers.forEach((value, name) => {
    res.setHeader(name, value)
  })
  const streaming = (response.headers.get('content-type') ?? '').startsWith('text/event-stream')
  if (!streaming || response.body === null) {
    const bytes = Buffer.from(await response.arrayBuffer())
    if (bytes.byteLength > 0) res.setHeader('Content-Length', bytes.byteLength)
    res.end(bytes)
    return
  }
  res.flushHeaders()
  const reader = response.body.getReader()
  const stop = () => {
    reader.cancel().catch(() => undefined)
  }
  signal.addEventListener('abort', stop, { once: true })
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done || res.destroyed) break
      const flushed = res.write(value)
      // A compression middleware buffers until told to flush; an event must not wait for the next one.
      ;(res as { flush?: () => void }).flush?.()
      if (!flushed) await drained(res)
    }
  } finally {
    signal.removeEventListener('abort', stop)
    // Releases the handler's stream (listeners, heartbeat) whichever way the loop ended.
    stop()
    res.end()
  }
}

function drained(res: ServerResponse): Promise<void> {
  if (res.destroyed) return Promise.resolve()
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done)
      res.off('close', done)
      resolve()
    }
    res.on('drain', done)
    res.on('close', done)
  })
}
