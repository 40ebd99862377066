import { z } from 'zod'

/** Schemas the option parsers of the core share. */
export const positiveInt = z.number().int().positive()

export const fn = z.custom<(...args: never[]) => unknown>((value) => typeof value === 'function', 'expected a function')

/** An object with these methods: stores, schedulers, clocks are checked by shape, not by class. */
export function withMethods(methods: readonly string[]) {
  return z.custom<object>(
    (value) =>
      typeof value === 'object' &&
      value !== null &&
      methods.every((method) => typeof (value as Record<string, unknown>)[method] === 'function'),
    `expected an object with methods ${methods.join(', ')}`,
  )
}
