import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './freePort.js'

export interface StartRedisOptions {
  /** The `redis-server` binary. Found on its own: `$REDIS_SERVER`, then `PATH`. */
  binary?: string
}

/** A Redis server of its own, on a free port of 127.0.0.1, with no persistence. */
export interface RedisServer {
  host: string
  port: number
  /** `redis://127.0.0.1:port`. */
  url: string
  /** Stops the server (SIGKILL after 5 s) and removes its folder. */
  stop(): Promise<void>
}

/**
 * Starts a real `redis-server` for a test on a free port of 127.0.0.1: no RDB snapshots, no AOF, its working
 * folder a temporary one. Resolves once the server answers PING. Throws, saying what to install, when there is no
 * binary.
 *
 * ```ts
 * let redis: RedisServer
 * beforeAll(async () => { redis = await startRedis() })
 * afterAll(() => redis.stop())
 * ```
 */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const binary = options.binary ?? findRedisServer()
  if (options.binary !== undefined && !existsSync(options.binary)) {
    throw new Error(`startRedis: the binary ${options.binary} does not exist; install redis-server or fix the path`)
  }
  if (!binary) {
    throw new Error(
      'startRedis: no redis-server binary was found in $REDIS_SERVER or PATH; install it (Debian: apt-get install redis-server)',
    )
  }
  const dir = mkdtempSync(join(tmpdir(), 'syncfolio-redis-'))
  const port = await freePort()
  const child = spawn(
    binary,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let output = ''
  child.once('error', (error) => {
    output += `\n${error.message}`
  })
  child.stdout?.on('data', (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4_000)
  })
  child.stderr?.on('data', (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4_000)
  })
  const stop = () => stopChild(child).finally(() => rmSync(dir, { recursive: true, force: true }))
  try {
    await waitForPing(port, child, () => output)
  } catch (error) {
    await stop()
    throw error
  }
  return { host: '127.0.0.1', port, url: `redis://127.0.0.1:${port}`, stop }
}

function findRedisServer(): string | null {
  const fromEnv = process.env.REDIS_SERVER
  if (fromEnv && existsSync(fromEnv)) return fromEnv
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'redis-server'))) return join(dir, 'redis-server')
  }
  for (const dir of ['/usr/bin', '/usr/local/bin', '/usr/sbin']) {
    if (existsSync(join(dir, 'redis-server'))) return join(dir, 'redis-server')
  }
  return null
}

async function waitForPing(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 10_000
  for (;;) {
    if (child.exitCode !== null || child.pid === undefined)
      throw new Error(`startRedis: redis-server exited: ${output()}`)
    if (await ping(port)) return
    if (Date.now() > deadline) throw new Error(`startRedis: redis-server did not answer PING in 10 s: ${output()}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    let answer = ''
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.once('error', () => done(false))
    socket.setTimeout(1_000, () => done(false))
    socket.on('connect', () => socket.write('PING\r\n'))
    socket.on('data', (chunk) => {
      answer += chunk.toString()
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'))
    })
  })
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 5_000)
    child.once('exit', () => {
      clearTimeout(kill)
      resolve()
    })
    child.kill('SIGTERM')
  })
}
