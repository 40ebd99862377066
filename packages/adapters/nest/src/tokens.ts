import { Inject } from '@nestjs/common'

// Symbol.for: one token per name even when the package is loaded twice (its ESM and CommonJS builds).

/**
 * Injection token of the module's scheduler (the `SyncScheduler` it built, or the `scheduler` option):
 * `@Inject(SYNCFOLIO_SCHEDULER) scheduler: Scheduler`.
 */
export const SYNCFOLIO_SCHEDULER = Symbol.for('@syncfolio/nest:scheduler')

/** Injection token of the module's `SyncStore` (the `store` option): `@Inject(SYNCFOLIO_STORE) store: SyncStore`. */
export const SYNCFOLIO_STORE = Symbol.for('@syncfolio/nest:store')

/** Injects the module's scheduler; the same as `@Inject(SYNCFOLIO_SCHEDULER)`. */
export function InjectScheduler(): PropertyDecorator & ParameterDecorator {
  return Inject(SYNCFOLIO_SCHEDULER)
}

/** Injects the module's `SyncStore`; the same as `@Inject(SYNCFOLIO_STORE)`. */
export function InjectStore(): PropertyDecorator & ParameterDecorator {
  return Inject(SYNCFOLIO_STORE)
}

/** Internal: the options fixed where the module is declared (`ResolvedStaticOptions`). */
export const SYNCFOLIO_STATIC_OPTIONS = Symbol.for('@syncfolio/nest:static-options')

/** Internal: the run-time options, split and validated (`ResolvedRuntimeOptions`). */
export const SYNCFOLIO_RUNTIME_OPTIONS = Symbol.for('@syncfolio/nest:runtime-options')

/** Internal: what `forRoot` was given, or what `forRootAsync`'s factory returned. */
export const SYNCFOLIO_RAW_OPTIONS = Symbol.for('@syncfolio/nest:raw-options')
