import { defineConfig } from 'tsup'

export default defineConfig({
  entry: ['src/index.ts'],
  // ccxt is large and has its own ESM and CJS builds: users get it from node_modules, never bundled.
  external: ['ccxt', 'zod', '@syncfolio/core'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
})
