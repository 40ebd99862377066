import { type CanActivate, type ExecutionContext, Injectable, UnauthorizedException } from '@nestjs/common'
import type { Request } from 'express'

export interface AuthenticatedUser {
  id: string
}

/** Express's request once `UserHeaderGuard` let it through. */
export type AuthenticatedRequest = Request & { user?: AuthenticatedUser }

/**
 * The app's sign-in, reduced to a header for the demo: `x-user-id: alice` sets `req.user`, as a passport strategy
 * or a session guard would. Without it the request is refused with 401.
 */
@Injectable()
export class UserHeaderGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<AuthenticatedRequest>()
    const id = req.header('x-user-id')?.trim()
    if (!id) throw new UnauthorizedException('Sign in: send the header x-user-id (this demo has no passwords).')
    req.user = { id }
    return true
  }
}
