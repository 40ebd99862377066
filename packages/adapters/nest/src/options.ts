import type { CanActivate, FactoryProvider, ModuleMetadata, Type } from '@nestjs/common'
import {
  InvalidOptionError,
  type ResolveUser,
  type Scheduler,
  type SyncHandlerOptions,
  SyncScheduler,
  type SyncSchedulerOptions,
  type SyncStore,
} from '@syncfolio/core'
import { z } from 'zod'

/**
 * What this process does. `all`: runs the background schedule and serves the HTTP API. `api`: serves the API and
 * never runs the schedule (API replicas). `scheduler`: runs the schedule and registers no routes (one worker).
 */
export type SyncfolioRole = 'all' | 'api' | 'scheduler'

/** The HTTP API's limits, named as in `createSyncHandler`. */
export type SyncfolioHttpOptions = Pick<
  SyncHandlerOptions,
  'maxBodyBytes' | 'manualSyncIntervalMs' | 'syncWaitMs' | 'verifyTimeoutMs' | 'heartbeatMs'
>

/**
 * Options fixed where the module is declared. They decide which routes and providers exist, which Nest settles
 * before any factory runs, so `forRootAsync` takes them beside `useFactory`, not from it.
 */
export interface SyncfolioStaticOptions {
  /**
   * Where the HTTP API is mounted, under the app's global prefix: `'syncfolio'` serves `GET /syncfolio/connections`,
   * or `GET /api/syncfolio/connections` after `app.setGlobalPrefix('api')`. Literal segments only. Ignored for
   * `role: 'scheduler'`.
   * @default 'syncfolio'
   */
  path?: string
  /**
   * `all` schedules and serves the API; `api` serves the API and never schedules (run it on every API replica);
   * `scheduler` schedules and serves no routes (run it on exactly one worker).
   * @default 'all'
   */
  role?: SyncfolioRole
  /**
   * Guards applied to the API's routes only, after the app's global guards, like `@UseGuards()` on a controller:
   * `[AuthGuard('jwt')]`. Classes are instantiated in this module's scope, so their own dependencies must come from
   * `imports` (forRootAsync) or a global module.
   * @default []
   */
  guards?: Array<Type<CanActivate> | CanActivate>
  /**
   * Registers the module globally, so `SYNCFOLIO_SCHEDULER` and `SYNCFOLIO_STORE` can be injected in every module
   * without importing it again.
   * @default false
   */
  global?: boolean
}

/** Run-time options of the module itself, whichever scheduler it runs. */
export interface SyncfolioOwnRuntimeOptions<TRequest = unknown> extends SyncfolioHttpOptions {
  /**
   * Who is asking, read from the platform's own request (Express `Request`, Fastify `FastifyRequest`) after your
   * guards ran: `(req: AuthedRequest) => req.user?.id ?? null`. Null, undefined or `''` answers 401. May be async.
   * Required unless `role` is `'scheduler'`.
   */
  resolveUser?: ResolveUser<TRequest>
  /**
   * How long `app.close()` waits for the syncs in flight before aborting them (they then end as `CANCELLED`,
   * unrecorded). 0 aborts at once.
   * @default 30_000
   */
  shutdownTimeoutMs?: number
}

/** The module builds its `SyncScheduler` from these options. */
export interface SyncfolioBuiltSchedulerOptions<TRequest = unknown>
  extends SyncSchedulerOptions,
    SyncfolioOwnRuntimeOptions<TRequest> {
  scheduler?: undefined
}

/** The module runs a scheduler you built, e.g. a `BullmqScheduler`; the API reads connections from `store`. */
export type SyncfolioGivenSchedulerOptions<TRequest = unknown> = SyncfolioOwnRuntimeOptions<TRequest> & {
  /**
   * A scheduler you built instead of the `SyncScheduler` the module builds: a `BullmqScheduler`
   * (`@syncfolio/bullmq`) runs the schedule across processes. The module starts it on bootstrap and stops it on
   * shutdown; its own options (its `role` included) say what it runs.
   */
  scheduler: Scheduler
  /** The store the scheduler syncs; the HTTP API reads the user's connections from it. */
  store: SyncStore
} & { [K in Exclude<keyof SyncSchedulerOptions, 'store'>]?: never }

/**
 * Options the module needs at run time, which `forRootAsync`'s factory may compute: either the `SyncScheduler`'s
 * own options (`store`, `exchanges`, `intervalMs`, `concurrency`, `limits`, `timeoutMs`, `backoff`, `clock`...), or
 * a `scheduler` you built with its `store`; and the HTTP API's limits and `resolveUser`.
 */
export type SyncfolioRuntimeOptions<TRequest = unknown> =
  | SyncfolioBuiltSchedulerOptions<TRequest>
  | SyncfolioGivenSchedulerOptions<TRequest>

export type SyncfolioModuleOptions<TRequest = unknown> = SyncfolioStaticOptions & SyncfolioRuntimeOptions<TRequest>

export interface SyncfolioModuleAsyncOptions<TRequest = unknown> extends SyncfolioStaticOptions {
  /** Modules whose exported providers `inject` names (a config module, a database module). @default [] */
  imports?: ModuleMetadata['imports']
  /** Tokens whose instances are passed to `useFactory`, in order. @default [] */
  inject?: FactoryProvider['inject']
  /** Returns (or resolves to) the run-time options; everything but `path`, `role`, `guards` and `global`. */
  useFactory: (...args: never[]) => SyncfolioRuntimeOptions<TRequest> | Promise<SyncfolioRuntimeOptions<TRequest>>
}

export interface ResolvedStaticOptions {
  /** Without leading or trailing slash; `''` is the app's root. */
  path: string
  role: SyncfolioRole
  guards: Array<Type<CanActivate> | CanActivate>
  global: boolean
}

export interface ResolvedRuntimeOptions {
  scheduler: SyncSchedulerOptions
  /** The scheduler the options gave, or null: the module builds a `SyncScheduler` from `scheduler`. */
  given: Scheduler | null
  http: SyncfolioHttpOptions
  /** Null only for the `scheduler` role, which serves no routes. */
  resolveUser: ResolveUser<unknown> | null
  shutdownTimeoutMs: number
}

const OWNER = 'SyncfolioModule'

/** Every SyncScheduler option; the compiler fails here when core adds or removes one. */
const SCHEDULER_KEYS: Record<keyof SyncSchedulerOptions, true> = {
  store: true,
  exchanges: true,
  intervalMs: true,
  concurrency: true,
  limits: true,
  timeoutMs: true,
  storeTimeoutMs: true,
  maxPauseMs: true,
  logger: true,
  backoff: true,
  tickMs: true,
  pageSize: true,
  activeForMs: true,
  clock: true,
  random: true,
  limiter: true,
}
const HTTP_KEYS: Record<keyof SyncfolioHttpOptions, true> = {
  maxBodyBytes: true,
  manualSyncIntervalMs: true,
  syncWaitMs: true,
  verifyTimeoutMs: true,
  heartbeatMs: true,
}
const STATIC_KEYS: Record<keyof SyncfolioStaticOptions, true> = { path: true, role: true, guards: true, global: true }
const OWN_RUNTIME_KEYS = { resolveUser: true, shutdownTimeoutMs: true, scheduler: true } as const
const ASYNC_KEYS = { imports: true, inject: true, useFactory: true } as const

const fn = z.custom<(...args: never[]) => unknown>((value) => typeof value === 'function', 'expected a function')

const staticSchema = z.strictObject({
  path: z
    .string()
    .regex(
      /^\/?([A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*)?\/?$/,
      'must be literal path segments such as "syncfolio" or "api/syncfolio" (no parameters, wildcards or query)',
    ),
  role: z.enum(['all', 'api', 'scheduler']),
  guards: z.array(
    z.custom<Type<CanActivate> | CanActivate>(
      (value) =>
        typeof value === 'function' ||
        (typeof value === 'object' &&
          value !== null &&
          typeof (value as Partial<CanActivate>).canActivate === 'function'),
      'expected a guard class or an object with canActivate',
    ),
  ),
  global: z.boolean(),
})

const SCHEDULER_METHODS = [
  'start',
  'stop',
  'syncNow',
  'verifyCredentials',
  'markActive',
  'on',
  'off',
  'health',
  'stats',
]

const runtimeSchema = z.object({
  resolveUser: fn.optional(),
  shutdownTimeoutMs: z.number().int().nonnegative(),
  scheduler: z
    .custom<Scheduler>(
      (value) =>
        typeof value === 'object' &&
        value !== null &&
        SCHEDULER_METHODS.every((method) => typeof (value as Record<string, unknown>)[method] === 'function'),
      `expected a scheduler (a SyncScheduler or a BullmqScheduler) with ${SCHEDULER_METHODS.join(', ')}`,
    )
    .optional(),
})

/** `forRoot` and `forRootAsync`: the options that shape the module, with defaults, validated. */
export function resolveStaticOptions(input: SyncfolioStaticOptions): ResolvedStaticOptions {
  const picked = Object.fromEntries(
    Object.entries(input).filter(([key, value]) => key in STATIC_KEYS && value !== undefined),
  )
  const withDefaults = { path: 'syncfolio', role: 'all', guards: [], global: false, ...picked }
  const parsed = staticSchema.safeParse(withDefaults)
  if (!parsed.success) throw toOptionError(parsed.error, withDefaults)
  const { path, role, guards, global } = parsed.data
  return { path: path.replace(/^\/+|\/+$/g, ''), role, guards, global }
}

/** `forRoot`: checks that every key is an option before anything is built. */
export function checkModuleKeys(input: unknown): asserts input is SyncfolioModuleOptions {
  checkObject(input, '(options)')
  for (const [key, value] of Object.entries(input)) {
    if (key in STATIC_KEYS || key in OWN_RUNTIME_KEYS || key in SCHEDULER_KEYS || key in HTTP_KEYS) continue
    const hint = key in ASYNC_KEYS ? ': use forRootAsync for a factory' : ''
    throw new InvalidOptionError(OWNER, key, `is not an option${hint}`, value)
  }
}

/** `forRootAsync`: checks the keys given beside the factory. */
export function checkAsyncKeys(input: unknown): asserts input is SyncfolioModuleAsyncOptions {
  checkObject(input, '(options)')
  for (const [key, value] of Object.entries(input)) {
    if (key in STATIC_KEYS || key in ASYNC_KEYS) continue
    const hint =
      key in SCHEDULER_KEYS || key in HTTP_KEYS || key in OWN_RUNTIME_KEYS ? ': return it from useFactory' : ''
    throw new InvalidOptionError(OWNER, key, `is not an option of forRootAsync${hint}`, value)
  }
  const { useFactory, imports, inject } = input as unknown as Record<string, unknown>
  if (typeof useFactory !== 'function')
    throw new InvalidOptionError(OWNER, 'useFactory', 'expected a function', useFactory)
  if (imports !== undefined && !Array.isArray(imports)) {
    throw new InvalidOptionError(OWNER, 'imports', 'expected an array of modules', imports)
  }
  if (inject !== undefined && !Array.isArray(inject)) {
    throw new InvalidOptionError(OWNER, 'inject', 'expected an array of injection tokens', inject)
  }
}

/**
 * Splits the run-time options into the scheduler's, the HTTP API's and the module's own, and validates the module's
 * own. The scheduler and the handler validate theirs when they are built, naming the same fields.
 */
export function resolveRuntimeOptions(
  input: unknown,
  role: SyncfolioRole,
  fromFactory: boolean,
): ResolvedRuntimeOptions {
  checkObject(input, fromFactory ? '(useFactory result)' : '(options)')
  const scheduler: Record<string, unknown> = {}
  const http: Record<string, unknown> = {}
  const own: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(input)) {
    if (key in SCHEDULER_KEYS) scheduler[key] = value
    else if (key in HTTP_KEYS) http[key] = value
    else if (key in OWN_RUNTIME_KEYS) own[key] = value
    else if (!fromFactory && key in STATIC_KEYS) continue
    else if (key in STATIC_KEYS) {
      const problem = 'is fixed where the module is declared: pass it to forRootAsync beside useFactory'
      throw new InvalidOptionError(OWNER, key, problem, value)
    } else throw new InvalidOptionError(OWNER, key, 'is not an option', value)
  }
  const withDefaults = { shutdownTimeoutMs: 30_000, ...stripUndefined(own) }
  const parsed = runtimeSchema.safeParse(withDefaults)
  if (!parsed.success) throw toOptionError(parsed.error, withDefaults)
  const resolveUser = (parsed.data.resolveUser as ResolveUser<unknown> | undefined) ?? null
  if (resolveUser === null && role !== 'scheduler') {
    const problem = `is required to serve the HTTP API (role "${role}"): return the user id from your request`
    throw new InvalidOptionError(OWNER, 'resolveUser', problem, undefined)
  }
  const given = parsed.data.scheduler ?? null
  if (given !== null) checkGivenScheduler(given, scheduler, role)
  return {
    scheduler: scheduler as unknown as SyncSchedulerOptions,
    given,
    http: stripUndefined(http) as SyncfolioHttpOptions,
    resolveUser,
    shutdownTimeoutMs: parsed.data.shutdownTimeoutMs,
  }
}

/** A scheduler the options gave comes with its store and nothing else of a scheduler's own options. */
function checkGivenScheduler(given: Scheduler, options: Record<string, unknown>, role: SyncfolioRole): void {
  for (const [key, value] of Object.entries(options)) {
    if (key === 'store' || value === undefined) continue
    throw new InvalidOptionError(OWNER, key, 'belongs to the scheduler given in `scheduler`: set it there', value)
  }
  const store = options.store as SyncStore | undefined
  if (store === undefined || typeof store !== 'object' || store === null) {
    const problem = 'is required with `scheduler`: the HTTP API reads the connections from it'
    throw new InvalidOptionError(OWNER, 'store', problem, store)
  }
  if (role === 'api' && given instanceof SyncScheduler) {
    const problem =
      'role "api" never runs the schedule, and the module starts a given scheduler: leave `scheduler` out (the module builds one it never starts), or give a BullmqScheduler with role "api"'
    throw new InvalidOptionError(OWNER, 'scheduler', problem, 'SyncScheduler')
  }
}

function checkObject(input: unknown, field: string): asserts input is object {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidOptionError(OWNER, field, 'must be an object', input)
  }
}

function toOptionError(error: z.ZodError, root: unknown): InvalidOptionError {
  const issue = error.issues[0] as z.core.$ZodIssue
  const field = issue.path.map(String).join('.') || '(options)'
  let value = root
  for (const key of issue.path) value = (value as Record<PropertyKey, unknown> | undefined)?.[key]
  const message = issue.message.charAt(0).toLowerCase() + issue.message.slice(1)
  return new InvalidOptionError(OWNER, field, message, value)
}

function stripUndefined(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined))
}
