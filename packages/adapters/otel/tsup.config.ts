import { defineConfig } from 'tsup'

export default defineConfig({
  entry: ['src/index.ts'],
  // Peers: the app's own OpenTelemetry API (one global meter provider) and core, never bundled.
  external: ['@opentelemetry/api', '@syncfolio/core', 'zod'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
})
