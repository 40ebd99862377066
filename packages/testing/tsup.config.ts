import { defineConfig } from 'tsup'

export default defineConfig({
  // `msw`, `conformance` (vitest) and `services` (child processes) are entries of their own, so the main entry
  // loads none of them.
  entry: {
    index: 'src/index.ts',
    'msw/index': 'src/msw/index.ts',
    'conformance/index': 'src/conformance/index.ts',
    'services/index': 'src/services/index.ts',
  },
  external: ['vitest', 'msw', 'zod', '@syncfolio/core'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
})
