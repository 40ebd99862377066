import { defineConfig } from 'tsup'

export default defineConfig({
  entry: ['src/index.ts'],
  // The app's own Nest, reflect-metadata and rxjs, never bundled: Nest's injector and metadata must be one copy.
  external: ['@nestjs/common', '@nestjs/core', 'reflect-metadata', 'rxjs', '@syncfolio/core', 'zod'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
})
