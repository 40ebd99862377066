import { createParamDecorator, type ExecutionContext } from '@nestjs/common'
import type { AuthenticatedRequest, AuthenticatedUser } from './userHeaderGuard.js'

/** The signed-in user of a route behind `UserHeaderGuard`: `@CurrentUser() user: AuthenticatedUser`. */
export const CurrentUser = createParamDecorator(
  (_data: unknown, context: ExecutionContext): AuthenticatedUser =>
    context.switchToHttp().getRequest<AuthenticatedRequest>().user as AuthenticatedUser,
)
