import { Controller, Get, HttpCode, Inject, Post, UseGuards } from '@nestjs/common'
import { CurrentUser } from '../auth/currentUser.js'
import { type AuthenticatedUser, UserHeaderGuard } from '../auth/userHeaderGuard.js'
import { ConnectionsService, type Portfolio } from './connectionsService.js'

/** The app's own routes next to syncfolio's: `GET /api/me/portfolio`, `POST /api/me/portfolio/refresh`. */
@Controller('me/portfolio')
@UseGuards(UserHeaderGuard)
export class ConnectionsController {
  readonly #connections: ConnectionsService

  constructor(@Inject(ConnectionsService) connections: ConnectionsService) {
    this.#connections = connections
  }

  @Get()
  portfolio(@CurrentUser() user: AuthenticatedUser): Promise<Portfolio> {
    return this.#connections.portfolio(user.id)
  }

  @Post('refresh')
  @HttpCode(200)
  refresh(@CurrentUser() user: AuthenticatedUser): ReturnType<ConnectionsService['refresh']> {
    return this.#connections.refresh(user.id)
  }
}
