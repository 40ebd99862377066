import { defineConfig } from 'vitest/config'

/** Workspace packages resolve to their TypeScript sources, so tests need no build. */
const conditions = ['@syncfolio/source', 'module', 'node', 'import', 'default']

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['@syncfolio/source'] } },
  test: {
    include: ['packages/**/src/**/*.test.{ts,tsx}', 'examples/**/src/**/*.test.{ts,tsx}'],
    testTimeout: 20_000,
    hookTimeout: 60_000,
  },
})
