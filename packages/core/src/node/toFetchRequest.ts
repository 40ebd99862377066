import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'

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
    return JSON.stringify(parsed)
  }
  return streamOf(req)
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
