import { isSyncApiError } from '@syncfolio/react'
import { exchangeName, syncErrorText } from '../format/names.js'

/** Field name -> what is wrong with it, from a 400's issues (`credentials.apiKey` -> `apiKey`). */
export type FieldErrors = Partial<Record<string, string>>

export function fieldErrorsOf(error: unknown): FieldErrors {
  if (!isSyncApiError(error) || error.code !== 'VALIDATION_FAILED') return {}
  const errors: FieldErrors = {}
  for (const issue of error.issues ?? []) {
    const field = String(issue.path[0] === 'credentials' ? (issue.path[1] ?? 'credentials') : (issue.path[0] ?? ''))
    errors[field] ??= issue.message
  }
  return errors
}

/** The message above a form for an error of adding or reconnecting; null when the fields say it all. */
export function formErrorOf(error: unknown, exchange: string): string | null {
  if (!error) return null
  const name = exchangeName(exchange)
  if (!isSyncApiError(error)) return `Something went wrong: ${error instanceof Error ? error.message : String(error)}`
  switch (error.code) {
    case 'VALIDATION_FAILED':
      return 'Please check the highlighted fields.'
    case 'CREDENTIALS_REJECTED':
      return `${name} refused these keys: ${syncErrorText(error.reason ?? 'AUTH_FAILED')}. Check the API key, secret${exchange === 'okx' ? ' and passphrase' : ''}.`
    case 'EXCHANGE_ERROR':
      return `${name} could not check these keys right now (${syncErrorText(error.reason ?? 'UNKNOWN')}). Try again in a moment.`
    case 'NETWORK':
      return 'The server could not be reached. Check your connection and try again.'
    default:
      return error.message
  }
}
