import { defineConfig } from 'tsup'

export default defineConfig({
  // `msw` and `conformance` (vitest) are entries of their own, so the main entry loads neither.
  entry: { index: 'src/index.ts', 'msw/index': 'src/msw/index.ts', 'conformance/index': 'src/conformance/index.ts' },
  external: ['vitest', 'msw', 'zod', '@syncfolio/core'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
})
