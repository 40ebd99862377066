import { execFile } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { freePort } from './freePort.js'

const run = promisify(execFile)

export interface StartPostgresOptions {
  /**
   * The folder holding `initdb` and `pg_ctl`. Found on its own: `$PG_BIN`, then the newest
   * `/usr/lib/postgresql/<version>/bin` (Debian's `postgresql` package), then `PATH`.
   */
  binDir?: string
}

/** A Postgres server of its own, in a temporary folder, on a free port of 127.0.0.1. */
export interface PostgresServer {
  host: string
  port: number
  user: string
  database: string
  /** `postgres://user@127.0.0.1:port/database`, for `new pg.Pool({ connectionString })`. */
  connectionString: string
  /** Stops the server and removes its folder. */
  stop(): Promise<void>
}

/**
 * Starts a real Postgres server for a test: `initdb` into a temporary folder, then `pg_ctl start` on a free
 * port, trust authentication, the socket inside that folder and `fsync` off. `initdb` refuses to run as root, so
 * as root every step runs as the `postgres` user. Throws, saying what to install, when there are no binaries.
 *
 * ```ts
 * let server: PostgresServer
 * beforeAll(async () => { server = await startPostgres() })
 * afterAll(() => server.stop())
 * ```
 */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresServer> {
  const bin = options.binDir ?? findBinDir()
  if (!bin) {
    throw new Error(
      'startPostgres: no Postgres server binaries (initdb, pg_ctl) were found in $PG_BIN, /usr/lib/postgresql/*/bin or PATH; install them (Debian: apt-get install postgresql)',
    )
  }
  const root = mkdtempSync(join(tmpdir(), 'syncfolio-postgres-'))
  const asRoot = process.getuid?.() === 0
  const as = async (command: string, args: string[]) => {
    const file = join(bin, command)
    try {
      if (asRoot) return await run('runuser', ['-u', 'postgres', '--', file, ...args])
      return await run(file, args)
    } catch (error) {
      const { stderr, stdout } = error as { stderr?: string; stdout?: string }
      throw new Error(`startPostgres: ${command} failed: ${stderr || stdout || String(error)}`)
    }
  }
  if (asRoot) {
    const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])])
    chownSync(root, Number(uid.stdout.trim()), Number(gid.stdout.trim()))
  }
  const data = join(root, 'data')
  const user = 'syncfolio'
  let started = false
  const stop = async () => {
    if (started) await as('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => {})
    started = false
    rmSync(root, { recursive: true, force: true })
  }
  try {
    await as('initdb', ['-D', data, '-U', user, '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'])
    const port = await freePort()
    const settings = `-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`
    await as('pg_ctl', ['-D', data, '-o', settings, '-l', join(root, 'server.log'), '-w', '-t', '60', 'start'])
    started = true
    const database = 'postgres'
    return {
      host: '127.0.0.1',
      port,
      user,
      database,
      connectionString: `postgres://${user}@127.0.0.1:${port}/${database}`,
      stop,
    }
  } catch (error) {
    await stop()
    throw error
  }
}

function findBinDir(): string | null {
  const fromEnv = process.env.PG_BIN
  if (fromEnv && existsSync(join(fromEnv, 'initdb'))) return fromEnv
  const debian = '/usr/lib/postgresql'
  if (existsSync(debian)) {
    const versions = readdirSync(debian)
      .filter((version) => existsSync(join(debian, version, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a))
    if (versions[0] !== undefined) return join(debian, versions[0], 'bin')
  }
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'))) return dir
  }
  return null
}
