// `npm run bench [name...]`: runs every bench/<name>.bench.ts (or those named) and writes bench/RESULTS.md.
import { readdir, readFile, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { Benchmark } from './lib/harness.js'

const here = fileURLToPath(new URL('.', import.meta.url))
const wanted = process.argv.slice(2)
const files = (await readdir(here))
  .filter((name) => name.endsWith('.bench.ts'))
  .filter((name) => wanted.length === 0 || wanted.includes(name.replace('.bench.ts', '')))
  .sort()

const resultsFile = new URL('./RESULTS.md', import.meta.url)
const previous = await readFile(resultsFile, 'utf8').catch(() => '')
const sections = new Map<string, string>()
for (const match of previous.matchAll(/<!-- bench:(\S+) -->\n([\s\S]*?)<!-- \/bench -->/g)) {
  sections.set(match[1] as string, match[2] as string)
}

for (const file of files) {
  const name = file.replace('.bench.ts', '')
  const { benchmark } = (await import(pathToFileURL(`${here}${file}`).href)) as { benchmark: Benchmark }
  process.stdout.write(`\n## ${benchmark.title}\n`)
  const body = await benchmark.run()
  process.stdout.write(`${body}\n`)
  sections.set(name, `## ${benchmark.title}\n\n${body}\n`)
}

const machine = `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`
const document = [
  '# Benchmark results',
  '',
  `Written by \`npm run bench\`; each benchmark runs its variants side by side in one run, each in a process of its own. Last machine: ${machine}.`,
  '',
  ...[...sections.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, body]) => `<!-- bench:${name} -->\n${body}<!-- /bench -->\n`),
].join('\n')
await writeFile(resultsFile, document)
