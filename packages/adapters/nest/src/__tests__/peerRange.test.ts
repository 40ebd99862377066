import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'

const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  peerDependencies: Record<string, string>
}
const require = createRequire(import.meta.url)
/** npm's own range semantics (semver ships with npm's tree); typed here so no @types package is needed. */
const semver = require('semver') as { satisfies(version: string, range: string): boolean }

describe('supported Nest versions', () => {
  it.each(['@nestjs/common', '@nestjs/core'])('%s: the peer range accepts Nest 10, 11 and 12', (name) => {
    const range = manifest.peerDependencies[name] as string
    for (const version of ['10.0.0', '10.4.15', '11.0.0', '11.2.10', '12.0.0', '12.5.1']) {
      expect(semver.satisfies(version, range), `${version} in ${range}`).toBe(true)
    }
    expect(semver.satisfies('13.0.0', range)).toBe(false)
  })

  it.each(['@nestjs/common', '@nestjs/core'])('%s: the version these tests run on is inside the range', (name) => {
    const installed = (require(`${name}/package.json`) as { version: string }).version
    expect(semver.satisfies(installed, manifest.peerDependencies[name] as string)).toBe(true)
  })
})
