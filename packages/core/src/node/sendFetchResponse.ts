import type { ServerResponse } from 'node:http'
import { HttpProblem } from '../http/httpProblem.js'
import { discardRequestBody } from './toFetchRequest.js'

/** True for an event-stream answer (`GET /events`), which is written as it is produced. */
export function isEventStream(response: Response): boolean {
  return (response.headers.get('content-type') ?? '').startsWith('text/event-stream') && response.body !== null
}

/**
 * Writes a Fetch `Response` (the core handler's answer) to Node's response. Headers the app set before (CORS, security headers) stay;
 * the handler's own are added. A JSON answer is sent whole with its length; an event stream is flushed at once and
 * written event by event with backpressure, until it ends, the client leaves, or `signal` aborts it.
 */
export async function sendFetchResponse(response: Response, res: ServerResponse, signal: AbortSignal): Promise<void> {
  // An answer given before the body was read must not leave the rest of it blocking the keep-alive connection.
  if (res.req) discardRequestBody(res.req)
  res.statusCode = response.status
  response.headers.forEach((value, name) => {
    res.setHeader(name, value)
  })
  if (!isEventStream(response)) {
    const bytes = Buffer.from(await response.arrayBuffer())
    if (bytes.byteLength > 0) res.setHeader('Content-Length', bytes.byteLength)
    res.end(bytes)
    return
  }
  res.flushHeaders()
  const reader = (response.body as ReadableStream<Uint8Array>).getReader()
  const cancel = () => {
    reader.cancel().catch(() => undefined)
  }
  signal.addEventListener('abort', cancel, { once: true })
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done || res.destroyed) break
      const flushed = res.write(value)
      // A compression middleware holds bytes until told to flush; an event must not wait for the next one.
      ;(res as ServerResponse & { flush?: () => void }).flush?.()
      if (!flushed) await drained(res)
    }
  } finally {
    signal.removeEventListener('abort', cancel)
    // Releases the handler's side of the stream (scheduler listeners, heartbeat) however the loop ended.
    cancel()
    res.end()
  }
}

function drained(res: ServerResponse): Promise<void> {
  if (res.destroyed) return Promise.resolve()
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done).off('close', done)
      resolve()
    }
    res.on('drain', done).on('close', done)
  })
}

/**
 * The JSON answer for an error met while translating a Node request (a body a parser produced that cannot be
 * JSON again is a 400), else a plain 500 problem: never a framework's error page with a stack trace.
 */
export function problemResponse(error: unknown): Response {
  if (error instanceof HttpProblem) return error.toResponse()
  return new HttpProblem(500, 'INTERNAL', 'The server could not answer; try again later.').toResponse()
}
