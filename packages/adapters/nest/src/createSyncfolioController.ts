import { All, type CanActivate, Controller, Inject, Param, Req, Res, type Type, UseGuards } from '@nestjs/common'
import { SyncfolioRuntime } from './syncfolioRuntime.js'

/**
 * The core handler's routes, each its own Nest route. Named parameters, not one wildcard: `connections/:id` means
 * the same on Express 4, Express 5 and Fastify, while a catch-all is `*` on one and `*path` on another (and draws a
 * warning from Nest 11 on Express 5). Paths outside the table get Nest's own 404.
 */
const ROUTES = [
  'exchanges',
  'connections',
  'connections/:id',
  'connections/:id/credentials',
  'connections/:id/sync',
  'holdings',
  'events',
  'health',
] as const

/**
 * Routes outside the module's `guards`: a readiness probe carries no session, and the answer holds no user data.
 * The app's global guards still apply to them, as to every route.
 */
const UNGUARDED: ReadonlySet<string> = new Set(['health'])

/**
 * The API's controller, mounted at `path`, every route but `health` behind `guards`. Nest reads a controller's path
 * and guards when the class is decorated, so each module declaration gets a class of its own.
 *
 * Each route hands the core handler its own part of the URL (`/connections/abc`), rebuilt from the route and its
 * parameter, so the app's global prefix, `RouterModule` paths and URI versions never need to be known here.
 *
 * Nest's decorators are applied as calls rather than with `@` syntax: through the `@syncfolio/source` condition,
 * these sources are compiled by whatever loads them (tsx, vitest, esbuild) with the tsconfig that tool picks, which
 * may not enable `experimentalDecorators`; calls mean the same under any of them.
 */
export function createSyncfolioController(path: string, guards: Array<Type<CanActivate> | CanActivate>): Type<unknown> {
  class SyncfolioController {
    readonly #runtime: SyncfolioRuntime

    constructor(runtime: SyncfolioRuntime) {
      this.#runtime = runtime
    }

    serve(req: unknown, res: unknown, route: string, id?: string): Promise<void> {
      const part = id === undefined ? route : route.replace(':id', encodeURIComponent(id))
      return this.#runtime.serve(req, res, `/${part}`)
    }
  }
  Inject(SyncfolioRuntime)(SyncfolioController, undefined, 0)
  const prototype = SyncfolioController.prototype as unknown as Record<string, unknown>
  for (const route of ROUTES) {
    const name = methodName(route)
    const withId = route.includes(':id')
    prototype[name] = function (this: SyncfolioController, req: unknown, res: unknown, id?: string) {
      return this.serve(req, res, route, withId ? id : undefined)
    }
    const descriptor = Object.getOwnPropertyDescriptor(prototype, name) as PropertyDescriptor
    All(route)(prototype, name, descriptor)
    Req()(prototype, name, 0)
    Res()(prototype, name, 1)
    if (withId) Param('id')(prototype, name, 2)
    if (guards.length > 0 && !UNGUARDED.has(route)) UseGuards(...guards)(prototype, name, descriptor)
  }
  Controller(path)(SyncfolioController)
  return SyncfolioController
}

/** `connections/:id/sync` -> `connectionsIdSync`, the name Nest shows in traces. */
function methodName(route: string): string {
  return route
    .split('/')
    .map((segment, index) => {
      const word = segment.replace(/^:/, '')
      return index === 0 ? word : word.charAt(0).toUpperCase() + word.slice(1)
    })
    .join('')
}
