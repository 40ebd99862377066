import { defineConfig } from 'tsup'

export default defineConfig({
  entry: ['src/index.ts'],
  // BullMQ and ioredis keep their own connections and scripts; core is a peer. None is bundled.
  external: ['@syncfolio/core', 'bullmq', 'ioredis', 'zod'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
})
