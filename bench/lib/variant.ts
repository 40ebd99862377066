// Child process side of runVariant: loads the bench module, runs one variant, prints its figures as JSON.
import { pathToFileURL } from 'node:url'

const [file, variant, rawArgs] = process.argv.slice(2) as [string, string, string]
const module = (await import(pathToFileURL(file).href)) as {
  variants: Record<string, (args: Record<string, unknown>) => Promise<Record<string, number | string>>>
}
const run = module.variants[variant]
if (!run) throw new Error(`no variant "${variant}" in ${file}`)
globalThis.gc?.()
const cpuBefore = process.cpuUsage()
const figures = await run(JSON.parse(rawArgs) as Record<string, unknown>)
const cpu = process.cpuUsage(cpuBefore)
const peakRssMiB = process.resourceUsage().maxRSS / 1024
process.stdout.write(`${JSON.stringify({ cpuMs: (cpu.user + cpu.system) / 1000, peakRssMiB, ...figures })}\n`)
