import { defineConfig } from 'tsup'

export default defineConfig({
  entry: ['src/index.ts'],
  // Peers and dependencies stay external: the app's own core, driver and zod.
  external: ['@syncfolio/core', '@syncfolio/sql', 'zod', 'pg', '@electric-sql/pglite', 'better-sqlite3'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
})
