import { defineConfig } from 'tsup'

export default defineConfig({
  // `client/index` is the browser-safe `@syncfolio/core/client` entry; it must not import server code.
  // `node/index` translates Node's http requests and responses for the framework adapters.
  entry: { index: 'src/index.ts', 'client/index': 'src/client/index.ts', 'node/index': 'src/node/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
})
