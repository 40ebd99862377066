import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { InvalidOptionError } from '@syncfolio/core'
import { FakeExchange } from './fakeExchange.js'
import type { FakeExchangeOptions } from './options.js'

export interface StartFakeExchangeOptions extends FakeExchangeOptions {
  /** Port to listen on; 0 picks a free one (read it from `url` or `port`). @default 0 */
  port?: number
  /** Interface to listen on. Loopback only by default: the fake is for tests, not for a network. @default '127.0.0.1' */
  host?: string
}

/** A FakeExchange served over real HTTP. Point ccxt (or `createCcxtAdapter`'s `baseUrl`) at `url`. */
export class FakeExchangeServer extends FakeExchange {
  readonly #server: Server
  #url = ''
  #port = 0
  #closed: Promise<void> | undefined

  private constructor(options: FakeExchangeOptions) {
    super(options)
    this.#server = createServer((request, response) => {
      void this.#serve(request, response)
    })
    // Keep-alive connections are the norm for ccxt; idle ones must not keep the test process alive on close.
    this.#server.keepAliveTimeout = 5_000
  }

  /** Starts a fake exchange listening on `host:port`. */
  static async start(options: StartFakeExchangeOptions = {}): Promise<FakeExchangeServer> {
    const { port = 0, host = '127.0.0.1', ...exchangeOptions } = options ?? {}
    if (!Number.isInteger(port) || port < 0 || port > 65_535) {
      throw new InvalidOptionError('startFakeExchange', 'port', 'must be an integer from 0 to 65535', port)
    }
    if (typeof host !== 'string' || host.length === 0) {
      throw new InvalidOptionError('startFakeExchange', 'host', 'must be a non-empty string', host)
    }
    const fake = new FakeExchangeServer(exchangeOptions)
    await new Promise<void>((resolve, reject) => {
      fake.#server.once('error', reject)
      fake.#server.listen(port, host, () => {
        fake.#server.off('error', reject)
        resolve()
      })
    })
    const address = fake.#server.address() as AddressInfo
    fake.#port = address.port
    fake.#url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`
    return fake
  }

  /** Base URL of the server, e.g. `http://127.0.0.1:40123`: both exchanges are served under it. */
  get url(): string {
    return this.#url
  }

  get port(): number {
    return this.#port
  }

  /** Stops listening, drops every open connection (hung requests included) and waits until the server is closed. */
  close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => {
      this.releasePending()
      this.#server.close(() => resolve())
      this.#server.closeAllConnections()
    })
    return this.#closed
  }

  async #serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const controller = new AbortController()
    // The client hung up before an answer: let go of whatever the fake holds for this request.
    response.once('close', () => {
      if (!response.writableFinished) controller.abort()
    })
    try {
      const chunks: Buffer[] = []
      for await (const chunk of request) chunks.push(chunk as Buffer)
      const reply = await this.reply({
        method: request.method ?? 'GET',
        url: request.url ?? '/',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        ip: normalizeIp(request.socket.remoteAddress),
        signal: controller.signal,
      })
      if (reply.kind !== 'response') {
        request.socket.destroy()
        return
      }
      response.writeHead(reply.status, { ...reply.headers, 'content-length': Buffer.byteLength(reply.body) })
      response.end(reply.body)
    } catch (error) {
      if (response.headersSent) {
        response.destroy()
        return
      }
      const message = error instanceof Error ? error.message : String(error)
      response.writeHead(500, { 'content-type': 'text/plain' })
      response.end(`Fake exchange failed: ${message}`)
    }
  }
}

/**
 * Starts a fake Binance + OKX on 127.0.0.1 (a free port by default). Stop it with `close()`.
 *
 * ```ts
 * const fake = await startFakeExchange({
 *   accounts: [{ exchange: 'binance', apiKey: 'k1', secret: 's1', balances: [{ asset: 'BTC', free: '0.5' }] }],
 * })
 * const binance = createCcxtAdapter('binance', { baseUrl: fake.url })
 * ```
 */
export function startFakeExchange(options: StartFakeExchangeOptions = {}): Promise<FakeExchangeServer> {
  return FakeExchangeServer.start(options)
}

function normalizeIp(address: string | undefined): string {
  if (!address) return '127.0.0.1'
  return address.startsWith('::ffff:') ? address.slice(7) : address
}
