import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'

/** What the translation reads of the platform's request besides Node's: a body a parser already produced. */
export interface ParsedBodyCarrier {
  /** The parsed body (Express `express.json()`, Fastify's content-type parsers). */
  body?: unknown
  /** The exact bytes, when the app was created with `rawBody: true`. */
  rawBody?: unknown
}

/** Methods the Fetch standard refuses to put in a `Request`. */
const FORBIDDEN_METHODS = new Set(['CONNECT', 'TRACE', 'TRACK'])

/**
 * The Fetch `Request` the core handler answers, for a Node request that Nest routed here. `path` is the route part
 * the handler matches (`/connections/abc`), built by the controller from its own route and parameters, so the app's
 * global prefix, `RouterModule` paths and URI versions never reach the handler. The query comes from the request.
 * Null for a method a Fetch `Request` cannot carry.
 */
export function toFetchRequest(
  carrier: ParsedBodyCarrier,
  req: IncomingMessage,
  path: string,
  signal: AbortSignal,
): Request | null {
  const method = (req.method ?? 'GET').toUpperCase()
  if (FORBIDDEN_METHODS.has(method)) return null
  const url = (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? '/'
  const queryAt = url.indexOf('?')
  const search = queryAt === -1 ? '' : url.slice(queryAt)
  const headers = toHeaders(req.headers)
  const body = method === 'GET' || method === 'HEAD' ? null : requestBody(carrier, req)
  const streamed = body instanceof ReadableStream
  if (body !== null && !streamed && !(carrier.rawBody instanceof Uint8Array)) {
    // A parser's result serialized again: the original framing headers describe other bytes.
    headers.delete('content-length')
    headers.delete('transfer-encoding')
  }
  const init: RequestInit & { duplex?: 'half' } = { method, headers, body, signal }
  if (streamed) init.duplex = 'half'
  return new Request(`http://localhost${path}${search}`, init)
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
 * Nest's Express platform parses JSON and form bodies for every route before the controller runs, and Fastify
 * parses every body it accepts. So: the exact bytes when the app kept them (`rawBody: true`), else what the parser
 * produced when the stream is already read, else the stream itself (a type no parser took, or `bodyParser: false`),
 * so the handler's size limit applies while reading.
 */
function requestBody(carrier: ParsedBodyCarrier, req: IncomingMessage): BodyInit | null {
  if (carrier.rawBody instanceof Uint8Array) return carrier.rawBody as BodyInit
  if (req.readableEnded || !req.readable) {
    const parsed = carrier.body
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
