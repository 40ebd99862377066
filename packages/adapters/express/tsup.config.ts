import { defineConfig } from 'tsup'

export default defineConfig({
  entry: ['src/index.ts'],
  // Peers: the app's own express and core, never bundled (one scheduler, one express).
  external: ['express', '@syncfolio/core'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
})
