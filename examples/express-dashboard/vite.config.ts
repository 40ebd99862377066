import { fileURLToPath } from 'node:url'
import { defaultClientConditions, defineConfig } from 'vite'

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url))

/**
 * The dashboard's UI. Workspace packages resolve to their TypeScript sources through the `@syncfolio/source`
 * condition, so nothing needs building first. JSX goes through Vite's own transform (automatic runtime); no plugin
 * is needed since the UI is served built, not with hot reload.
 */
// A default export: Vite loads its config from one.
export default defineConfig({
  root: here('./src/ui'),
  base: '/',
  publicDir: false,
  resolve: { conditions: ['@syncfolio/source', ...defaultClientConditions] },
  oxc: { jsx: { runtime: 'automatic' } },
  build: {
    outDir: here('./dist/ui'),
    emptyOutDir: true,
    // TanStack Query marks its modules "use client" for React Server Components; a client bundle has no use for it.
    rolldownOptions: { checks: { moduleLevelDirective: false } },
  },
})
