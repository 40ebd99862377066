// The path a newcomer takes: pack every published package, install the tarballs into a fresh project outside the
// workspace (so nothing resolves through workspace links or source conditions), then run a small ESM app, a
// CommonJS script and a strict TypeScript check (moduleResolution node16 and bundler) against them.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const root = process.cwd()
const rootManifest = JSON.parse(readFileSync('package.json', 'utf8'))
const run = (command, args, cwd) =>
  execFileSync(command, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' })

const packages = JSON.parse(run('npm', ['query', '.workspace'], root)).filter((pkg) => !pkg.private)
const work = mkdtempSync(join(tmpdir(), 'syncfolio-newcomer-'))
const tarballs = join(work, 'tarballs')
const app = join(work, 'app')
mkdirSync(tarballs)
mkdirSync(app)

function main() {
  try {
    for (const pkg of packages) {
      if (!existsSync(join(pkg.location, 'dist'))) run('npm', ['run', 'build', '--workspace', pkg.location], root)
      run('npm', ['pack', '--silent', '--pack-destination', tarballs, '--workspace', pkg.location], root)
    }
    const files = run('ls', [tarballs], root).trim().split('\n')
    // The versions the workspace tests with, for the peers a host brings.
    const dev = rootManifest.devDependencies
    const peers = [
      'express',
      '@types/express',
      'react',
      'react-dom',
      '@tanstack/react-query',
      '@nestjs/common',
      '@nestjs/core',
      'reflect-metadata',
      'rxjs',
      'typescript',
      '@types/node',
      '@types/react',
    ].map((name) => `${name}@${dev[name]}`)
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'newcomer-app', private: true, type: 'module' }))
    run(
      'npm',
      [
        'install',
        '--no-audit',
        '--no-fund',
        '--prefer-offline',
        ...files.map((file) => join(tarballs, file)),
        ...peers,
      ],
      app,
    )

    writeFileSync(join(app, 'app.mjs'), ESM_APP)
    writeFileSync(join(app, 'script.cjs'), CJS_SCRIPT)
    writeFileSync(join(app, 'check.ts'), TS_CHECK)
    const esm = run('node', ['app.mjs'], app).trim()
    const cjs = run('node', ['script.cjs'], app).trim()
    for (const moduleResolution of ['node16', 'bundler']) {
      const module = moduleResolution === 'node16' ? 'node16' : 'esnext'
      run(
        join(app, 'node_modules/.bin/tsc'),
        [
          '--noEmit',
          '--strict',
          '--skipLibCheck',
          'false',
          '--module',
          module,
          '--moduleResolution',
          moduleResolution,
        ].concat(['--target', 'es2022', '--types', 'node', '--jsx', 'react-jsx', 'check.ts']),
        app,
      )
    }
    process.stdout.write(`${esm}\n${cjs}\n`)
    process.stdout.write(
      `newcomer test: ${files.length} tarballs installed in a fresh project; ESM app, CommonJS script and strict tsc (node16, bundler) pass\n`,
    )
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

// --- the newcomer's files --------------------------------------------------------------------------------

const ESM_APP = `
import { once } from 'node:events'
import express from 'express'
import { MemoryStore, SyncScheduler } from '@syncfolio/core'
import { createSyncClient } from '@syncfolio/core/client'
import { syncfolioRouter } from '@syncfolio/express'

const store = new MemoryStore()
const demo = { id: 'demo', fetchBalances: async () => ({ balances: [{ asset: 'BTC', free: '1', used: '0', total: '1' }] }) }
const scheduler = new SyncScheduler({ store, exchanges: [demo] })
const app = express()
app.use(express.json())
app.use((req, _res, next) => { req.user = { id: 'alice' }; next() })
const router = syncfolioRouter({ scheduler, store, resolveUser: (req) => req.user?.id ?? null })
app.use('/api/syncfolio', router)
const server = app.listen(0, '127.0.0.1')
await once(server, 'listening')
try {
  const client = createSyncClient({ baseUrl: \`http://127.0.0.1:\${server.address().port}/api/syncfolio\` })
  const connection = await client.addConnection({ exchange: 'demo', credentials: { apiKey: 'key-1234', secret: 'secret-5678' } })
  const outcome = await client.syncNow(connection.id)
  if (outcome.outcome !== 'success') throw new Error('sync failed: ' + JSON.stringify(outcome))
  const holdings = await client.getHoldings()
  if (holdings.holdings[0]?.total !== '1') throw new Error('unexpected holdings: ' + JSON.stringify(holdings))
  console.log('ESM app: added a connection, synced it and read holdings over HTTP')
} finally {
  router.close()
  server.close()
}
`

const CJS_SCRIPT = `
const core = require('@syncfolio/core')
const client = require('@syncfolio/core/client')
const node = require('@syncfolio/core/node')
const runner = require('@syncfolio/core/runner')
const { syncfolioRouter } = require('@syncfolio/express')
const { SyncfolioModule } = require('@syncfolio/nest')
const { createCcxtAdapter } = require('@syncfolio/ccxt')
const testing = require('@syncfolio/testing')
const react = require('@syncfolio/react')
const checks = {
  SyncScheduler: core.SyncScheduler,
  createSyncHandler: core.createSyncHandler,
  createSyncClient: client.createSyncClient,
  toFetchRequest: node.toFetchRequest,
  parseOptions: runner.parseOptions,
  syncfolioRouter,
  SyncfolioModule,
  createCcxtAdapter,
  FakeClock: testing.FakeClock,
  SyncfolioProvider: react.SyncfolioProvider,
}
for (const [name, value] of Object.entries(checks)) {
  if (typeof value !== 'function') throw new Error(name + ' is ' + typeof value + ' through require()')
}
if ('parseOptions' in core) throw new Error('the main entry still exports parseOptions')
console.log('CommonJS script: ' + Object.keys(checks).length + ' exports load through require()')
`

const TS_CHECK = `
import { MemoryStore, SyncScheduler, type Connection, type ExchangeAdapter } from '@syncfolio/core'
import { createSyncClient, type SyncEvent } from '@syncfolio/core/client'
import { syncfolioRouter } from '@syncfolio/express'
import { SyncfolioModule } from '@syncfolio/nest'
import { SyncfolioProvider, useConnections } from '@syncfolio/react'
import express from 'express'

const adapter: ExchangeAdapter = { id: 'demo', fetchBalances: async () => ({ balances: [] }) }
const store = new MemoryStore()
const scheduler = new SyncScheduler({ store, exchanges: [adapter] })
const app = express()
app.use('/api/syncfolio', syncfolioRouter({ scheduler, store, resolveUser: (req) => req.user?.id ?? null }))
const client = createSyncClient({ baseUrl: '/api/syncfolio' })
const first: Promise<Connection['id'] | undefined> = client.listConnections().then((list) => list[0]?.id)
const onEvent = (event: SyncEvent): string => event.type
export { first, onEvent, SyncfolioModule, SyncfolioProvider, useConnections }
`

main()
