import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'

const root = fileURLToPath(new URL('../../../../', import.meta.url))

it('loads the main entry without vitest or msw, as ESM and as CommonJS sources', () => {
  // A plain Node process (not vitest) with the source condition: importing vitest there would throw.
  const script = `
    const testing = await import('@syncfolio/testing')
    if (typeof testing.startFakeExchange !== 'function') throw new Error('no startFakeExchange')
    if ('describeSyncStoreConformance' in testing) throw new Error('conformance leaked into the main entry')
    console.log('ok')
  `
  const output = execFileSync(
    process.execPath,
    ['--import', 'tsx', '--conditions=@syncfolio/source', '--input-type=module', '-e', script],
    { cwd: root, encoding: 'utf8' },
  )
  expect(output.trim()).toBe('ok')
})
