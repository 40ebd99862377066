import type { ApiErrorBody, ApiErrorCode, ApiIssue } from '../client/contract.js'
import { jsonResponse } from './jsonResponse.js'

export interface HttpProblemOptions {
  issues?: ApiIssue[]
  reason?: string
  retryAfterMs?: number
  headers?: Record<string, string>
}

/**
 * A request the handler answers with an error body. Thrown inside a route and turned into the response at the
 * top, so routes read straight through. The message goes to the client: it never holds secrets or input values.
 */
export class HttpProblem extends Error {
  override readonly name = 'HttpProblem'
  readonly status: number
  readonly code: ApiErrorCode
  readonly options: HttpProblemOptions

  constructor(status: number, code: ApiErrorCode, message: string, options: HttpProblemOptions = {}) {
    super(message)
    this.status = status
    this.code = code
    this.options = options
  }

  toResponse(): Response {
    const { issues, reason, retryAfterMs, headers } = this.options
    const body: ApiErrorBody = {
      error: {
        code: this.code,
        message: this.message,
        ...(issues !== undefined && { issues }),
        ...(reason !== undefined && { reason }),
        ...(retryAfterMs !== undefined && { retryAfterMs }),
      },
    }
    return jsonResponse(this.status, body, headers)
  }
}

/** The one 404 for every connection the user cannot see, so an answer never tells another user's id apart. */
export function connectionNotFound(): HttpProblem {
  return new HttpProblem(404, 'NOT_FOUND', 'No connection with this id.')
}
