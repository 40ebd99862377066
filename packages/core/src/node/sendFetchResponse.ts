import type { ServerResponse } from 'node:http'

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
