import { All, type CanActivate, Controller, Inject, Param, Req, Res, type Type, UseGuards } from '@nestjs/common'
import { SyncfolioRuntime } from './syncfolioRuntime.js'

/**
 * The API's controller, mounted at `path`. Nest reads a controller's path when its class is decorated, so each
 * module declaration gets its own class.
 *
 * Each route of the core handler is its own Nest route with a named parameter, not one wildcard: `connections/:id`
 * means the same on Express 4, Express 5 and Fastify, while a wildcard is `*` on one and `*path` on another. The
 * handler is given the route part rebuilt from the route and its parameter, so the app's global prefix,
 * `RouterModule` paths and URI versions never need to be known here. Paths outside the table get Nest's own 404.
 */
export function createSyncfolioController(path: string, guards: Array<Type<CanActivate> | CanActivate>): Type<unknown> {
  @Controller(path)
  @UseGuards(...guards)
  class SyncfolioController {
    readonly #runtime: SyncfolioRuntime

    constructor(@Inject(SyncfolioRuntime) runtime: SyncfolioRuntime) {
      this.#runtime = runtime
    }

    @All('exchanges')
    exchanges(@Req() req: unknown, @Res() res: unknown): Promise<void> {
      return this.#runtime.serve(req, res, '/exchanges')
    }

    @All('connections')
    connections(@Req() req: unknown, @Res() res: unknown): Promise<void> {
      return this.#runtime.serve(req, res, '/connections')
    }

    @All('connections/:id')
    connection(@Req() req: unknown, @Res() res: unknown, @Param('id') id: string): Promise<void> {
      return this.#runtime.serve(req, res, `/connections/${encodeURIComponent(id)}`)
    }

    @All('connections/:id/credentials')
    credentials(@Req() req: unknown, @Res() res: unknown, @Param('id') id: string): Promise<void> {
      return this.#runtime.serve(req, res, `/connections/${encodeURIComponent(id)}/credentials`)
    }

    @All('connections/:id/sync')
    sync(@Req() req: unknown, @Res() res: unknown, @Param('id') id: string): Promise<void> {
      return this.#runtime.serve(req, res, `/connections/${encodeURIComponent(id)}/sync`)
    }

    @All('holdings')
    holdings(@Req() req: unknown, @Res() res: unknown): Promise<void> {
      return this.#runtime.serve(req, res, '/holdings')
    }

    @All('events')
    events(@Req() req: unknown, @Res() res: unknown): Promise<void> {
      return this.#runtime.serve(req, res, '/events')
    }
  }
  return SyncfolioController
}
