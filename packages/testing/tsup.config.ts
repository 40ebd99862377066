import { defineConfig } from 'tsup'

export default defineConfig({
  // `msw` is its own entry so that users who do not use msw never load it.
  entry: { index: 'src/index.ts', 'msw/index': 'src/msw/index.ts' },
  external: ['vitest', 'msw', 'zod', '@syncfolio/core'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
})
