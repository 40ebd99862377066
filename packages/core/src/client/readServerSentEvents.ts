/** One dispatched Server-Sent Event. */
export interface ServerSentEvent {
  /** The `event:` field, `message` when absent. */
  event: string
  /** The `data:` lines joined with `\n`. */
  data: string
  /** The last `id:` seen on the stream, `''` when none. */
  id: string
}

/**
 * Parses a `text/event-stream` body as the HTML standard's EventSource does (CRLF, LF or CR line ends, `:`
 * comments such as heartbeats ignored, multi-line `data`, one leading space after the colon dropped, an event
 * without data not dispatched, an unterminated last event discarded). Works over `fetch`, so a request can carry
 * headers (an `Authorization` token) that `EventSource` cannot send. Stopping the iteration cancels the body.
 */
export async function* readServerSentEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<ServerSentEvent> {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let buffer = ''
  let data: string[] = []
  let event = ''
  let id = ''
  let finished = false
  try {
    while (!finished) {
      const chunk = await reader.read()
      finished = chunk.done
      buffer += finished ? decoder.decode() : decoder.decode(chunk.value, { stream: true })
      let start = 0
      for (;;) {
        const end = lineEnd(buffer, start)
        if (end === -1) break
        // A CR at the very end may be the first half of a CRLF split across chunks: wait for the next chunk.
        if (buffer[end] === '\r' && end === buffer.length - 1 && !finished) break
        const line = buffer.slice(start, end)
        start = end + (buffer[end] === '\r' && buffer[end + 1] === '\n' ? 2 : 1)
        if (line === '') {
          if (data.length > 0) yield { event: event || 'message', data: data.join('\n'), id }
          data = []
          event = ''
          continue
        }
        if (line.startsWith(':')) continue
        const colon = line.indexOf(':')
        const field = colon === -1 ? line : line.slice(0, colon)
        let value = colon === -1 ? '' : line.slice(colon + 1)
        if (value.startsWith(' ')) value = value.slice(1)
        if (field === 'event') event = value
        else if (field === 'data') data.push(value)
        else if (field === 'id' && !value.includes('\0')) id = value
      }
      buffer = buffer.slice(start)
    }
  } finally {
    if (!finished) await reader.cancel().catch(() => undefined)
    reader.releaseLock()
  }
}

function lineEnd(text: string, from: number): number {
  for (let index = from; index < text.length; index++) {
    const char = text[index]
    if (char === '\n' || char === '\r') return index
  }
  return -1
}
