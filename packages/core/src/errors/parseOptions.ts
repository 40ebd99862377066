import type { z } from 'zod'
import { InvalidOptionError } from './invalidOptionError.js'

/**
 * Validates options with a zod schema, once, and throws InvalidOptionError for the first problem, naming the
 * field (as a dotted path under `prefix`) and the value received. Every syncfolio constructor and factory checks
 * its options through here, so every bad option reads the same way.
 */
export function parseOptions<T>(owner: string, schema: z.ZodType<T>, value: unknown, prefix = ''): T {
  if (prefix === '' && (typeof value !== 'object' || value === null)) {
    throw new InvalidOptionError(owner, '(options)', 'must be an object', value)
  }
  const parsed = schema.safeParse(value)
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0] as z.core.$ZodIssue
  if (issue.code === 'unrecognized_keys') {
    // Name the exact key, not the object holding it: `"exchanges"`, never `"(options)"`.
    const key = String(issue.keys[0])
    const field = [prefix, ...issue.path.map(String), key].filter(Boolean).join('.')
    throw new InvalidOptionError(owner, field, `is not an option of ${owner}`, valueAt(value, [...issue.path, key]))
  }
  const field = [prefix, ...issue.path.map(String)].filter(Boolean).join('.')
  const message = issue.message.charAt(0).toLowerCase() + issue.message.slice(1)
  throw new InvalidOptionError(owner, field || '(options)', message, valueAt(value, issue.path))
}

/** The entries whose value is not `undefined`, so defaults spread before them are not overwritten by a hole. */
export function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as Partial<T>
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root
  for (const key of path) value = (value as Record<PropertyKey, unknown> | undefined)?.[key]
  return value
}
