import { type DynamicModule, Logger, Module, type Provider } from '@nestjs/common'
import { SyncScheduler } from '@syncfolio/core'
import { createSyncfolioController } from './createSyncfolioController.js'
import { nestSchedulerLogger } from './nestSchedulerLogger.js'
import {
  checkAsyncKeys,
  checkModuleKeys,
  type ResolvedRuntimeOptions,
  type ResolvedStaticOptions,
  resolveRuntimeOptions,
  resolveStaticOptions,
  type SyncfolioModuleAsyncOptions,
  type SyncfolioModuleOptions,
} from './options.js'
import { SyncfolioHealthIndicator } from './syncfolioHealthIndicator.js'
import { SyncfolioRuntime } from './syncfolioRuntime.js'
import {
  SYNCFOLIO_RAW_OPTIONS,
  SYNCFOLIO_RUNTIME_OPTIONS,
  SYNCFOLIO_SCHEDULER,
  SYNCFOLIO_STATIC_OPTIONS,
  SYNCFOLIO_STORE,
} from './tokens.js'

/**
 * syncfolio in a Nest app: the `SyncScheduler` and its store as injectables (`SYNCFOLIO_SCHEDULER`,
 * `SYNCFOLIO_STORE`), the schedule started on application bootstrap and drained before the HTTP server closes, the
 * HTTP API served under `path` behind your guards (`GET health` outside them), a `SyncfolioHealthIndicator` for
 * `@nestjs/terminus`, and the scheduler's log lines in Nest's log unless the options give another `logger`.
 *
 * ```ts
 * SyncfolioModule.forRoot({
 *   store,
 *   exchanges: [createCcxtAdapter('binance'), createCcxtAdapter('okx')],
 *   path: 'syncfolio',
 *   guards: [AuthGuard('jwt')],
 *   resolveUser: (req: Request & { user?: { id: string } }) => req.user?.id ?? null,
 * })
 * ```
 */
// biome-ignore lint/complexity/noStaticOnlyClass: a Nest module is a class; forRoot/forRootAsync is Nest's convention.
export class SyncfolioModule {
  /** Declares the module with every option at hand. Options are validated here, once. */
  static forRoot<TRequest = unknown>(options: SyncfolioModuleOptions<TRequest>): DynamicModule {
    checkModuleKeys(options)
    const fixed = resolveStaticOptions(options)
    const runtime = resolveRuntimeOptions(options, fixed.role, false)
    return build(fixed, [{ provide: SYNCFOLIO_RUNTIME_OPTIONS, useValue: runtime }])
  }

  /**
   * Declares the module with run-time options from a factory, e.g. read from a config service:
   * `forRootAsync({ path, imports: [ConfigModule], inject: [ConfigService], useFactory: (config) => ({ ... }) })`.
   * `path`, `role`, `guards` and `global` shape the routes and providers, which Nest fixes before any factory runs,
   * so they sit beside `useFactory`.
   */
  static forRootAsync<TRequest = unknown>(options: SyncfolioModuleAsyncOptions<TRequest>): DynamicModule {
    checkAsyncKeys(options)
    const fixed = resolveStaticOptions(options)
    const { imports = [], inject = [], useFactory } = options
    return build(
      fixed,
      [
        { provide: SYNCFOLIO_RAW_OPTIONS, useFactory: useFactory as (...args: unknown[]) => unknown, inject },
        {
          provide: SYNCFOLIO_RUNTIME_OPTIONS,
          useFactory: (raw: unknown) => resolveRuntimeOptions(raw, fixed.role, true),
          inject: [SYNCFOLIO_RAW_OPTIONS],
        },
      ],
      imports,
    )
  }
}

// A decorator as a call, for the reason given in createSyncfolioController.ts.
Module({})(SyncfolioModule)

function build(
  fixed: ResolvedStaticOptions,
  optionProviders: Provider[],
  imports: NonNullable<DynamicModule['imports']> = [],
): DynamicModule {
  return {
    module: SyncfolioModule,
    global: fixed.global,
    imports,
    providers: [
      { provide: SYNCFOLIO_STATIC_OPTIONS, useValue: fixed },
      ...optionProviders,
      {
        provide: SYNCFOLIO_SCHEDULER,
        // A scheduler the options gave (a BullmqScheduler), else one built here, writing to Nest's log unless the
        // options name another logger.
        useFactory: (runtime: ResolvedRuntimeOptions) =>
          runtime.given ??
          new SyncScheduler({
            ...runtime.scheduler,
            logger: runtime.scheduler.logger ?? nestSchedulerLogger(new Logger('Syncfolio')),
          }),
        inject: [SYNCFOLIO_RUNTIME_OPTIONS],
      },
      {
        provide: SYNCFOLIO_STORE,
        useFactory: (runtime: ResolvedRuntimeOptions) => runtime.scheduler.store,
        inject: [SYNCFOLIO_RUNTIME_OPTIONS],
      },
      SyncfolioRuntime,
      SyncfolioHealthIndicator,
    ],
    controllers: fixed.role === 'scheduler' ? [] : [createSyncfolioController(fixed.path, fixed.guards)],
    exports: [SYNCFOLIO_SCHEDULER, SYNCFOLIO_STORE, SyncfolioHealthIndicator],
  }
}
