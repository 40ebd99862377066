import { type ChildProcess, fork } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BullmqScheduler } from '@syncfolio/bullmq'
import { InvalidOptionError } from '@syncfolio/core'
import { type Dashboard, startDashboard } from '@syncfolio/example-express-dashboard/src/server/startDashboard.js'
import { type RedisServer, startRedis } from '@syncfolio/testing/services'
import type { WorkerConfig } from './worker.js'

export interface ClusterDemoOptions {
  /** Folder of the SQLite file and its credential key, shared by every process. */
  dataDir: string
  /** Worker processes to start. @default 3 */
  workers?: number
  /** Syncs in flight per worker. @default 5 */
  concurrency?: number
  /** The dashboard's port; 0 picks a free one. @default 3000 */
  port?: number
  /** @default '127.0.0.1' */
  host?: string
  /** @default 10_000 */
  intervalMs?: number
  /** Latency the fake exchange adds to every answer. @default 250 */
  latencyMs?: number
  /** Directory of the dashboard's built UI. @default the dashboard's dist/ui */
  uiDir?: string
  /** Where each worker's lines go, prefixed with its name. @default console.log */
  log?: (line: string) => void
}

/** A running cluster demo: Redis, the dashboard (the `api` process) and the worker processes. */
export interface ClusterDemo {
  dashboard: Dashboard
  redis: RedisServer
  /** The worker processes, by name (`worker-1`…). */
  workers: Map<string, ChildProcess>
  /** Stops the workers (draining their syncs), the dashboard, then Redis. Idempotent. */
  close(): Promise<void>
}

const WORKER_SCRIPT = fileURLToPath(new URL('./worker.ts', import.meta.url))
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url))
/** Queue and budget keys of the demo in Redis. */
const PREFIX = 'syncfolio-demo'

/** Whether a `redis-server` binary is installed where `startRedis` looks for one. */
export function hasRedisServer(): boolean {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/bin', '/usr/local/bin', '/usr/sbin']
  return (
    (process.env.REDIS_SERVER !== undefined && existsSync(process.env.REDIS_SERVER)) ||
    dirs.some((dir) => dir !== '' && existsSync(join(dir, 'redis-server')))
  )
}

/**
 * Starts the cluster demo: a private redis-server, the dashboard with a `BullmqScheduler` in `role: 'api'` (it
 * serves the HTTP API and the event stream, and runs no sync), and `workers` processes with `role: 'worker'`, all
 * on one SQLite file. Every sync runs on a worker; its events reach the dashboard through Redis, with `worker` set.
 */
export async function startCluster(options: ClusterDemoOptions): Promise<ClusterDemo> {
  const { dataDir, workers: count = 3, concurrency = 5, intervalMs = 10_000, log = console.log } = options
  if (typeof dataDir !== 'string' || dataDir === '') {
    throw new InvalidOptionError('startCluster', 'dataDir', 'must be a folder path', dataDir)
  }
  if (!Number.isInteger(count) || count < 1 || count > 32) {
    throw new InvalidOptionError('startCluster', 'workers', 'must be an integer from 1 to 32', count)
  }
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new InvalidOptionError('startCluster', 'concurrency', 'must be a positive integer', concurrency)
  }
  const redis = await startRedis()
  const connection = { host: redis.host, port: redis.port }
  let dashboard: Dashboard
  try {
    dashboard = await startDashboard({
      dataDir,
      intervalMs,
      ...(options.port !== undefined && { port: options.port }),
      ...(options.host !== undefined && { host: options.host }),
      ...(options.latencyMs !== undefined && { latencyMs: options.latencyMs }),
      ...(options.uiDir !== undefined && { uiDir: options.uiDir }),
      scheduler: ({ store, exchanges }) =>
        new BullmqScheduler({
          redis: connection,
          prefix: PREFIX,
          store,
          exchanges,
          intervalMs,
          role: 'api',
          workerId: 'dashboard',
        }),
    })
  } catch (error) {
    await redis.stop()
    throw error
  }

  const workers = new Map<string, ChildProcess>()
  const stopWorkers = () => Promise.all([...workers.values()].map(stopWorker))
  try {
    const started = await Promise.allSettled(
      Array.from({ length: count }, (_, index) =>
        startWorker(
          {
            workerId: `worker-${index + 1}`,
            redis: connection,
            prefix: PREFIX,
            dataDir,
            fakeUrl: dashboard.fake.url,
            intervalMs,
            concurrency,
          },
          log,
        ),
      ),
    )
    started.forEach((result, index) => {
      if (result.status === 'fulfilled') workers.set(`worker-${index + 1}`, result.value)
    })
    const failed = started.find((result) => result.status === 'rejected')
    if (failed) throw failed.reason
  } catch (error) {
    await stopWorkers()
    await dashboard.close()
    await redis.stop()
    throw error
  }

  let closed: Promise<void> | undefined
  return {
    dashboard,
    redis,
    workers,
    close: () => {
      closed ??= (async () => {
        await stopWorkers()
        await dashboard.close()
        await redis.stop()
      })()
      return closed
    },
  }
}

/** Forks a worker and resolves once its scheduler has started; rejects with its output if it exits first. */
function startWorker(config: WorkerConfig, log: (line: string) => void): Promise<ChildProcess> {
  const child = fork(WORKER_SCRIPT, [JSON.stringify(config)], {
    cwd: REPO_ROOT,
    execArgv: ['--import', 'tsx', '--conditions=@syncfolio/source'],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  })
  let output = ''
  const forward = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4_000)
    for (const line of chunk.toString().split('\n')) if (line.trim() !== '') log(`[${config.workerId}] ${line}`)
  }
  child.stdout?.on('data', forward)
  child.stderr?.on('data', forward)
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
      reject(new Error(`${config.workerId} exited (${signal ?? code}) before it started:\n${output}`))
    child.once('exit', onExit)
    child.on('message', (message) => {
      if ((message as { type?: string }).type !== 'ready') return
      child.off('exit', onExit)
      resolve(child)
    })
  })
}

/** Asks a worker to drain and exit; SIGKILL if it has not within 15 s. */
function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
    if (child.connected) child.send({ type: 'stop' })
    else child.kill('SIGTERM')
  })
}
