import { existsSync, readFileSync } from 'node:fs'
import { dirname, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..')

/**
 * Every module an entry reaches, type-only imports included, following relative specifiers through the sources
 * (`./x.js` is `./x.ts`), and every bare or `node:` specifier met on the way.
 */
function importGraph(entry: string): { files: string[]; external: string[] } {
  const files = new Set<string>()
  const external = new Set<string>()
  const queue = [resolve(SRC, entry)]
  while (queue.length > 0) {
    const file = queue.pop() as string
    if (files.has(file)) continue
    files.add(file)
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true)
    for (const { fileName: specifier } of importedFiles) {
      if (!specifier.startsWith('.')) {
        external.add(specifier)
        continue
      }
      const target = resolve(dirname(file), specifier.replace(/\.js$/, '.ts'))
      const found = [target, `${target}.ts`, resolve(target, 'index.ts')].find((path) => existsSync(path))
      if (!found) throw new Error(`${relative(SRC, file)} imports ${specifier}, which does not resolve`)
      queue.push(found)
    }
  }
  return { files: [...files].map((file) => relative(SRC, file)).sort(), external: [...external].sort() }
}

const SERVER_ONLY = /^(scheduler|store|limits|http)\//

describe('the @syncfolio/core/client entry', () => {
  it('pulls in nothing from node: and no server code (scheduler, store, limits, http)', () => {
    const { files, external } = importGraph('client/index.ts')
    expect(files).toContain('client/createSyncClient.ts')
    expect(files.filter((file) => SERVER_ONLY.test(file))).toEqual([])
    expect(external).toEqual(['zod'])
  })

  it('is checked by a walker that does see server code and node: in the main entry', () => {
    // The same walk over the server entry must find what the client entry must not, or the test above proves nothing.
    const { files, external } = importGraph('index.ts')
    expect(files).toContain('scheduler/syncScheduler.ts')
    expect(files).toContain('http/createSyncHandler.ts')
    expect(external).toContain('node:crypto')
  })
})
