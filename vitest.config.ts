import { defineConfig } from 'vitest/config'

/**
 * Workspace packages resolve to their TypeScript sources, so tests need no build. Only the custom condition is
 * added: passing `import` too would reach Node's own resolver for externals and break CommonJS packages (Express).
 */
export default defineConfig({
  resolve: { conditions: ['@syncfolio/source', 'module', 'browser', 'development|production'] },
  ssr: { resolve: { conditions: ['@syncfolio/source', 'node'], externalConditions: ['@syncfolio/source'] } },
  test: {
    include: ['packages/**/src/**/*.test.{ts,tsx}', 'examples/**/src/**/*.test.{ts,tsx}'],
    testTimeout: 20_000,
    hookTimeout: 60_000,
  },
})
