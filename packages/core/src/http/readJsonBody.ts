import { HttpProblem } from './httpProblem.js'

/**
 * Reads a request body as JSON, refusing what is not `application/json` in UTF-8 (415), larger than `maxBytes`
 * (413: cut off as soon as the count passes the limit, whatever `Content-Length` claims) or not JSON (400).
 * Error messages never quote the body: it may hold API keys.
 */
export async function readJsonBody(request: Request, maxBytes: number): Promise<unknown> {
  if (!isJson(request.headers.get('Content-Type'))) {
    throw new HttpProblem(415, 'UNSUPPORTED_MEDIA_TYPE', 'The body must be application/json (UTF-8).')
  }
  const declared = request.headers.get('Content-Length')
  if (declared !== null && /^\d+$/.test(declared.trim()) && Number(declared) > maxBytes) {
    await request.body?.cancel().catch(() => undefined)
    throw tooLarge(maxBytes)
  }
  const bytes = await readAtMost(request.body, maxBytes)
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    throw new HttpProblem(400, 'INVALID_JSON', 'The body is not valid UTF-8.')
  }
  if (text.trim() === '') throw new HttpProblem(400, 'INVALID_JSON', 'The body is empty; a JSON object is expected.')
  try {
    return JSON.parse(text)
  } catch {
    throw new HttpProblem(400, 'INVALID_JSON', 'The body is not valid JSON.')
  }
}

function isJson(contentType: string | null): boolean {
  if (contentType === null) return false
  const [mediaType = '', ...parameters] = contentType.split(';')
  if (mediaType.trim().toLowerCase() !== 'application/json') return false
  for (const parameter of parameters) {
    const [name = '', value = ''] = parameter.split('=')
    if (name.trim().toLowerCase() !== 'charset') continue
    const charset = value.trim().replace(/^"|"$/g, '').toLowerCase()
    if (charset !== 'utf-8' && charset !== 'utf8') return false
  }
  return true
}

async function readAtMost(body: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<Uint8Array> {
  if (body === null) return new Uint8Array(0)
  const reader = body.getReader()
  const chunks: Uint8Array[] = []
  let total = 0
  try {
    for (;;) {
      const { done, value } = await reader.read().catch(() => {
        // The client went away or the stream broke mid-body: nothing to report to the operator.
        throw new HttpProblem(400, 'INVALID_JSON', 'The body could not be read to its end.')
      })
      if (done) break
      total += value.byteLength
      if (total > maxBytes) {
        await reader.cancel().catch(() => undefined)
        throw tooLarge(maxBytes)
      }
      chunks.push(value)
    }
  } finally {
    reader.releaseLock()
  }
  const bytes = new Uint8Array(total)
  let offset = 0
  for (const chunk of chunks) {
    bytes.set(chunk, offset)
    offset += chunk.byteLength
  }
  return bytes
}

function tooLarge(maxBytes: number): HttpProblem {
  return new HttpProblem(413, 'PAYLOAD_TOO_LARGE', `The body is larger than ${maxBytes} bytes.`)
}
