import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..')

/** Every bare specifier the package's own modules import (tests excluded). */
function externalImports(): string[] {
  const external = new Set<string>()
  const visit = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) {
        if (entry.name !== '__tests__') visit(join(dir, entry.name))
        continue
      }
      if (!/\.tsx?$/.test(entry.name)) continue
      const { importedFiles } = ts.preProcessFile(readFileSync(join(dir, entry.name), 'utf8'), true, true)
      for (const { fileName } of importedFiles) if (!fileName.startsWith('.')) external.add(fileName)
    }
  }
  visit(SRC)
  return [...external].sort()
}

describe('@syncfolio/react', () => {
  it('imports only React, TanStack Query and the browser-safe @syncfolio/core/client', () => {
    // `@syncfolio/core` itself would pull the scheduler, the stores and node: modules into a browser bundle.
    expect(externalImports()).toEqual(['@syncfolio/core/client', '@tanstack/react-query', 'react'])
  })
})
