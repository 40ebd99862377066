import { defineConfig } from 'tsup'

export default defineConfig({
  entry: ['src/index.ts'],
  // Peers come from the app (one React, one QueryClient cache); core is resolved by the app's bundler so it is
  // shared with any direct use of `@syncfolio/core/client`.
  external: ['react', 'react/jsx-runtime', '@tanstack/react-query', '@syncfolio/core'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'es2022',
  // Hooks and components run in the browser: mark the bundle for React Server Components frameworks (Next.js).
  banner: { js: "'use client'" },
})
