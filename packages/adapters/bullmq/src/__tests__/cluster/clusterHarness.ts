import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { ClusterNodeConfig } from './clusterNode.js'
import type { NodeMessage, ParentMessage, ReportedEvent } from './protocol.js'

export type { ClusterNodeConfig } from './clusterNode.js'
export type { ReportedEvent } from './protocol.js'

const NODE_SCRIPT = fileURLToPath(new URL('./clusterNode.ts', import.meta.url))
const REPO_ROOT = fileURLToPath(new URL('../../../../../../', import.meta.url))

/** A cluster node running in a child process: what it reported, and how to drive, stop or kill it. */
export class ClusterNode {
  readonly workerId: string
  readonly role: ClusterNodeConfig['role']
  /** Every sync event the node reported, in the order it sent them. */
  readonly events: ReportedEvent[] = []
  /** `error` events of its scheduler. */
  readonly errors: string[] = []
  readonly ratelimits = { budget: 0, retryAfter: 0 }
  /** How the process ended; resolves when it exits, however that happens. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  readonly #child: ChildProcess
  readonly #running = new Set<string>()
  readonly #outcomes = new Map<number, (outcome: { ok: boolean; code: string | null }) => void>()
  readonly #usages = new Map<number, (cpuMs: number) => void>()
  readonly #listeners = new Set<(event: ReportedEvent) => void>()
  #output = ''
  #nextRequest = 1

  constructor(config: ClusterNodeConfig, child: ChildProcess) {
    this.workerId = config.workerId
    this.role = config.role
    this.#child = child
    const keep = (chunk: Buffer) => {
      this.#output = (this.#output + chunk.toString()).slice(-8_000)
    }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    child.on('message', (raw) => this.#receive(raw as NodeMessage))
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }))
    })
  }

  get pid(): number {
    return this.#child.pid as number
  }

  /** The tail of what the process wrote to stdout and stderr, for failure messages. */
  get output(): string {
    return this.#output
  }

  /** Connections this node reported as started and not yet finished. */
  running(): ReadonlySet<string> {
    return this.#running
  }

  onEvent(listener: (event: ReportedEvent) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** `scheduler.syncNow` in the node's process. */
  syncNow(connectionId: string): Promise<{ ok: boolean; code: string | null }> {
    const requestId = this.#nextRequest++
    return new Promise((resolve) => {
      this.#outcomes.set(requestId, resolve)
      this.#send({ type: 'syncNow', requestId, connectionId })
    })
  }

  /** CPU time (user + system) the node's process has used so far, ms. */
  cpuMs(): Promise<number> {
    const requestId = this.#nextRequest++
    return new Promise((resolve) => {
      this.#usages.set(requestId, resolve)
      this.#send({ type: 'usage', requestId })
    })
  }

  /** Drains the node's scheduler and waits for the process to exit (SIGKILL if it has not in 20 s). */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return
    this.#send({ type: 'stop' })
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 20_000)
    await this.exited
    clearTimeout(timer)
  }

  /** SIGKILL: the process dies at once, mid-sync, without a word to Redis. */
  async kill(): Promise<void> {
    this.#child.kill('SIGKILL')
    await this.exited
  }

  #send(message: ParentMessage): void {
    if (this.#child.connected) this.#child.send(message)
  }

  #receive(message: NodeMessage): void {
    switch (message.type) {
      case 'event': {
        const { event } = message
        this.events.push(event)
        if (event.type === 'start') this.#running.add(event.connectionId)
        else this.#running.delete(event.connectionId)
        for (const listener of this.#listeners) listener(event)
        return
      }
      case 'ratelimit':
        if (message.reason === 'budget') this.ratelimits.budget++
        else this.ratelimits.retryAfter++
        return
      case 'outcome':
        this.#outcomes.get(message.requestId)?.({ ok: message.ok, code: message.code })
        this.#outcomes.delete(message.requestId)
        return
      case 'usage':
        this.#usages.get(message.requestId)?.(message.cpuMs)
        this.#usages.delete(message.requestId)
        return
      case 'error':
        this.errors.push(message.message)
        return
      default:
        return
    }
  }
}

/**
 * Starts a cluster node in a child process (TypeScript through tsx, workspace packages from their sources) and
 * resolves once its scheduler has started. Rejects with the process's output if it exits first.
 */
export function startClusterNode(config: ClusterNodeConfig): Promise<ClusterNode> {
  const child = fork(NODE_SCRIPT, [JSON.stringify(config)], {
    cwd: REPO_ROOT,
    execArgv: ['--import', 'tsx', '--conditions=@syncfolio/source'],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  })
  const node = new ClusterNode(config, child)
  return new Promise((resolve, reject) => {
    const onMessage = (raw: unknown) => {
      if ((raw as NodeMessage).type !== 'ready') return
      child.off('message', onMessage)
      resolve(node)
    }
    child.on('message', onMessage)
    void node.exited.then(({ code, signal }) =>
      reject(
        new Error(`cluster node ${config.workerId} exited (${signal ?? code}) before it was ready:\n${node.output}`),
      ),
    )
  })
}
