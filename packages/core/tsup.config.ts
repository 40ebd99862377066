import { defineConfig } from 'tsup'

export default defineConfig({
  // `client/index` is the browser-safe `@syncfolio/core/client` entry; it must not import server code.
  // `node/index` translates Node's http requests and responses for the framework adapters.
  // `runner/index` holds the pieces adapters and stores build on, kept off the app-facing main entry.
  entry: {
    index: 'src/index.ts',
    'client/index': 'src/client/index.ts',
    'node/index': 'src/node/index.ts',
    'runner/index': 'src/runner/index.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
})
