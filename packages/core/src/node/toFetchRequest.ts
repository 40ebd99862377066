import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import { HttpProblem } from '../http/httpProblem.js'

export interface ToFetchRequestOptions {
  /** Aborted when the client goes away: the handler stops waiting and the event stream ends. */
  signal: AbortSignal
  /**
   * The path and query the handler should see, e.g. `/connections/abc?x=1`. Frameworks that strip a mount path
   * (Express) leave the right one in `req.url`, the default; others build it from their route.
   * @default req.url
   */
  url?: string
  /** A body a parser already produced (Express `express.json()`, Nest, Fastify), used when the stream is consumed. */
  parsedBody?: unknown
  /** The exact bytes, when the framework kept them (Nest `rawBody: true`). */
  rawBody?: unknown
}

/** Methods the Fetch standard refuses to put in a `Request`. */
const FORBIDDEN_METHODS = new Set(['CONNECT', 'TRACE', 'TRACK'])

/**
 * The Fetch `Request` for a Node request, for the core handler (`createSyncHandler`) behind any Node framework.
 * Headers are copied (repeated ones kept); the body streams with backpressure, so the handler's size limit applies
 * while reading, unless a parser already consumed it, in which case its result (or the kept raw bytes) is used.
 * Null for a method a Fetch `Request` cannot carry (CONNECT, TRACE, TRACK).
 */
export function toFetchRequest(req: IncomingMessage, options: ToFetchRequestOptions): Request | null {
  const method = (req.method ?? 'GET').toUpperCase()
  if (FORBIDDEN_METHODS.has(method)) return null
  const headers = toHeaders(req.headers)
  const body = method === 'GET' || method === 'HEAD' ? null : requestBody(options, req)
  const streamed = body instanceof ReadableStream
  if (body !== null && !streamed && !(options.rawBody instanceof Uint8Array)) {
    // A parser's result serialized again: the original framing headers describe other bytes.
    headers.delete('content-length')
    headers.delete('transfer-encoding')
  }
  const init: RequestInit & { duplex?: 'half' } = { method, headers, body, signal: options.signal }
  if (streamed) init.duplex = 'half'
  // Concatenated rather than resolved against a base: a path starting with `//` must stay a path, not a host.
  return new Request(`http://localhost${options.url ?? req.url ?? '/'}`, init)
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

/**
 * Frameworks often parse bodies before the route runs (`express.json()`, Nest, Fastify). So: the exact bytes when
 * they were kept, else what the parser produced when the stream is already read, else the stream itself (a type no
 * parser took), so the handler's size limit applies while reading.
 */
function requestBody(options: ToFetchRequestOptions, req: IncomingMessage): BodyInit | null {
  if (options.rawBody instanceof Uint8Array) return options.rawBody as BodyInit
  if (req.readableEnded || !req.readable) {
    const parsed = options.parsedBody
    if (parsed === undefined || parsed === null) return null
    if (typeof parsed === 'string' || parsed instanceof Uint8Array) return parsed as BodyInit
    return serialize(parsed)
  }
  return streamOf(req)
}

/**
 * A parser's result as JSON again. A small body of thousands of nested arrays parses, but serializing it again
 * overflows the stack: that is the client's malformed input (400), not a server failure with a stack trace.
 */
function serialize(parsed: unknown): string {
  try {
    return JSON.stringify(parsed)
  } catch {
    throw new HttpProblem(400, 'INVALID_JSON', 'The body is nested too deeply or is not plain JSON.')
  }
}

/** Release functions of request bodies handed to the handler as streams, to let go of what it never read. */
const unreadBodies = new WeakMap<IncomingMessage, () => void>()

/**
 * Lets go of whatever is left of a request body the handler did not read (an answer given before the body: 401,
 * 404, 405, 415, 429) and lets Node discard it, so the next request on a keep-alive connection is read and answered.
 */
export function discardRequestBody(req: IncomingMessage): void {
  unreadBodies.get(req)?.()
  unreadBodies.delete(req)
  if (!req.complete && !req.destroyed) req.resume()
}

/**
 * The request body as a web stream that reads only as fast as the handler does. When the handler stops early (a
 * body over its limit), the stream lets go of the request and Node discards the rest, so the answer still reaches
 * the client on a usable connection.
 */
function streamOf(req: IncomingMessage): ReadableStream<Uint8Array> {
  let release = () => {}
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        const onData = (chunk: Buffer) => {
          controller.enqueue(new Uint8Array(chunk))
          if ((controller.desiredSize ?? 0) <= 0) req.pause()
        }
        const onEnd = () => {
          release()
          controller.close()
        }
        const onError = (error: Error) => {
          release()
          controller.error(error)
        }
        const onClose = () => {
          if (!req.complete) onError(new Error('The client closed the connection before the body ended.'))
        }
        release = () => {
          req.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose)
        }
        unreadBodies.set(req, () => {
          release()
          // The handler answered without the rest; a reader still waiting on it gets a clean end.
          try {
            controller.close()
          } catch {
            // Already closed or errored.
          }
        })
        req.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose)
        req.pause()
      },
      pull() {
        req.resume()
      },
      cancel() {
        release()
        req.resume()
      },
    },
    { highWaterMark: 4 },
  )
}
