import type { FakeFault } from './fakeFault.js'
import type { FakeBalance, FakeExchangeId, ResolvedFakeExchangeOptions } from './options.js'

/** A request as the protocol code sees it, whichever transport (node:http or msw) brought it. */
export interface ApiRequest {
  method: string
  path: string
  /** The query string without `?`, byte for byte as sent: signatures cover it exactly. */
  rawQuery: string
  query: URLSearchParams
  /** A header by case-insensitive name. */
  header(name: string): string | undefined
  body: string
  ip: string
  /** The fake's clock when the request arrived. */
  now: number
  /** Aborted when the client goes away. */
  signal: AbortSignal | undefined
}

/** What gets logged about an answer beyond its status. */
export interface ReplyNote {
  /** Request weight counted against the IP (Binance). */
  weight?: number
  /** The exchange's own error code, when the answer is an error. */
  code?: string
  /** The fault that shaped the answer. */
  fault?: FakeFault['type']
}

export type ApiReply =
  | ({ kind: 'response'; status: number; headers: Record<string, string>; body: string } & ReplyNote)
  | ({ kind: 'hang' } & ReplyNote)
  | ({ kind: 'disconnect' } & ReplyNote)

/** A fake account's state. */
export interface AccountState {
  readonly exchange: FakeExchangeId
  readonly apiKey: string
  readonly secret: string
  readonly password: string | undefined
  /** A stable numeric id, as exchanges show in account payloads. */
  readonly uid: number
  revoked: boolean
  /** The balances now, validated. */
  balancesAt(now: number): FakeBalance[]
}

/** What the fake gives its protocol handlers. */
export interface ApiHost {
  readonly options: ResolvedFakeExchangeOptions
  account(exchange: FakeExchangeId, apiKey: string): AccountState | undefined
  /** Faults that apply to this request; counts them as used. */
  takeFaults(exchange: FakeExchangeId, apiKey: string | undefined, path: string): FakeFault[]
  /** Waits on the fake's clock; resolves false if the client went away first. */
  wait(ms: number, signal: AbortSignal | undefined): Promise<boolean>
}

/** One exchange's protocol: which paths it owns and how it answers them. */
export interface ExchangeApi {
  readonly id: FakeExchangeId
  owns(path: string): boolean
  handle(request: ApiRequest): Promise<ApiReply>
}

export function jsonReply(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
  note: ReplyNote = {},
): ApiReply {
  return {
    kind: 'response',
    status,
    headers: { 'content-type': 'application/json;charset=UTF-8', ...headers },
    body: JSON.stringify(body),
    ...note,
  }
}

export function htmlReply(status: number, html: string, headers: Record<string, string> = {}, note: ReplyNote = {}) {
  const reply: ApiReply = {
    kind: 'response',
    status,
    headers: { 'content-type': 'text/html; charset=utf-8', ...headers },
    body: html,
    ...note,
  }
  return reply
}

/** A page such as a CDN, captive portal or maintenance screen serves with status 200. */
export function htmlPage(title: string): string {
  return `<!DOCTYPE html>\n<html><head><title>${title}</title></head><body><h1>${title}</h1><p>Please try again later.</p></body></html>\n`
}

/** A fault that decides the answer (every fault but latency). */
export type TerminalFault = Exclude<FakeFault, { type: 'latency' }>

/** The latency faults add up; the first other fault decides the answer. */
export async function applyFaults(
  host: ApiHost,
  request: ApiRequest,
  faults: FakeFault[],
): Promise<{ gone: boolean; terminal: TerminalFault | undefined }> {
  let delay = 0
  let terminal: TerminalFault | undefined
  for (const fault of faults) {
    if (fault.type === 'latency') delay += fault.ms
    else terminal ??= fault
  }
  if (delay > 0 && !(await host.wait(delay, request.signal))) return { gone: true, terminal }
  return { gone: false, terminal }
}

/**
 * Counts requests in a sliding window per key. Keeps only the timestamps inside the window, so memory stays
 * bounded by `limit` per key.
 */
export class SlidingWindow {
  readonly #limit: number
  readonly #windowMs: number
  readonly #hits = new Map<string, number[]>()

  constructor(limit: number, windowMs: number) {
    this.#limit = limit
    this.#windowMs = windowMs
  }

  /** Records a hit and returns true, or returns false (recording nothing) when the window is full. */
  take(key: string, now: number): boolean {
    const since = now - this.#windowMs
    const hits = (this.#hits.get(key) ?? []).filter((at) => at > since)
    if (hits.length >= this.#limit) {
      this.#hits.set(key, hits)
      return false
    }
    hits.push(now)
    this.#hits.set(key, hits)
    return true
  }
}
