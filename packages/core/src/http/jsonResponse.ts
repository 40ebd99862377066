/** Headers of every answer: balances are private, so nothing is cached or sniffed. */
export const COMMON_HEADERS: Readonly<Record<string, string>> = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
}

export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { ...COMMON_HEADERS, 'Content-Type': 'application/json; charset=utf-8', ...headers },
  })
}

export function emptyResponse(status: number): Response {
  return new Response(null, { status, headers: COMMON_HEADERS })
}
