import { defineConfig } from 'tsup'

export default defineConfig({
  // `client/index` is the browser-safe `@syncfolio/core/client` entry; it must not import server code.
  entry: { index: 'src/index.ts', 'client/index': 'src/client/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
})
