import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** A benchmark module: `bench/<name>.bench.ts` exports `benchmark`; `bench/run.ts` finds and runs it. */
export interface Benchmark {
  title: string
  /** Runs every variant side by side and returns a Markdown section (table plus a line on the setup). */
  run(): Promise<string>
}

export interface VariantResult {
  /** CPU time (user + system) of the measured part, ms. */
  cpuMs: number
  /** Peak resident set size of the whole process, MiB. */
  peakRssMiB: number
  [metric: string]: number | string
}

const RUNNER = fileURLToPath(new URL('./variant.ts', import.meta.url))

/**
 * Runs one variant in a child process of its own, so its peak RSS and CPU are not mixed with another's.
 * The module at `file` must export `variants: Record<string, (args) => Promise<Record<string, number | string>>>`.
 */
export function runVariant(file: string, variant: string, args: Record<string, unknown> = {}): Promise<VariantResult> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [
        '--import',
        'tsx',
        '--conditions=@syncfolio/source',
        '--expose-gc',
        RUNNER,
        fileURLToPath(file),
        variant,
        JSON.stringify(args),
      ],
      { maxBuffer: 16 * 1024 * 1024, timeout: 10 * 60_000 },
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`${variant} failed: ${error.message}\n${stderr}`))
        const line = stdout.trim().split('\n').at(-1) ?? ''
        resolve(JSON.parse(line) as VariantResult)
      },
    )
  })
}

export function ratio(value: number, baseline: number): string {
  return baseline === 0 ? 'n/a' : `${(value / baseline).toFixed(2)}x`
}

export function table(header: string[], rows: Array<Array<string | number>>): string {
  const line = (cells: Array<string | number>) => `| ${cells.join(' | ')} |`
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n')
}

export function fixed(value: number, digits = 2): string {
  return value.toFixed(digits)
}
