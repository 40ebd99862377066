// Builds every published package, then runs publint --strict and attw (node16 profile) on each.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

const root = JSON.parse(readFileSync('package.json', 'utf8'))
const list = execFileSync('npm', ['query', '.workspace'], { encoding: 'utf8' })
const packages = JSON.parse(list).filter((pkg) => !pkg.private)
let failed = 0
let broken = 0
// One rule for every package built on the core: a peer (and a devDependency for the workspace), never a dependency,
// so a host never installs two copies of it. (@syncfolio/sql is an implementation detail of the two SQL stores,
// holds no state a host shares, and is an ordinary dependency of theirs.)
for (const pkg of packages) {
  const manifest = JSON.parse(readFileSync(join(pkg.location, 'package.json'), 'utf8'))
  for (const name of Object.keys(manifest.dependencies ?? {})) {
    if (name !== '@syncfolio/core') continue
    process.stdout.write(`${pkg.name}: ${name} must be a peerDependency, not a dependency\n`)
    broken++
  }
  for (const name of Object.keys(manifest.peerDependencies ?? {})) {
    if (name.startsWith('@syncfolio/') && !manifest.devDependencies?.[name]) {
      process.stdout.write(`${pkg.name}: peer ${name} needs a devDependency too, for the workspace\n`)
      broken++
    }
  }
}
for (const pkg of packages) {
  const dir = pkg.location
  process.stdout.write(`\n== ${pkg.name} (${dir})\n`)
  try {
    execFileSync('npm', ['run', 'build', '--workspace', dir], { stdio: 'inherit' })
    execFileSync('npx', ['publint', '--strict'], { cwd: join(process.cwd(), dir), stdio: 'inherit' })
    execFileSync('npx', ['attw', '--pack', '.', '--profile', 'node16'], {
      cwd: join(process.cwd(), dir),
      stdio: 'inherit',
    })
  } catch {
    failed++
  }
}
process.stdout.write(
  `\n${packages.length - failed} of ${packages.length} packages pass publint and attw (${root.name})\n`,
)
process.exit(failed || broken ? 1 : 0)
