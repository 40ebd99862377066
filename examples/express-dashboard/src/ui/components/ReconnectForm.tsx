import { type ConnectionView, useUpdateCredentials } from '@syncfolio/react'
import { type FormEvent, useState } from 'react'
import { useDemoState } from '../demo/useDemoState.js'
import { CredentialsFields, type CredentialValues, credentialsOf, EMPTY_CREDENTIALS } from './CredentialsFields.js'
import { fieldErrorsOf, formErrorOf } from './credentialErrors.js'

/** New keys for a connection whose keys the exchange refused; on success it is active again and synced at once. */
export function ReconnectForm({ connection, onDone }: { connection: ConnectionView; onDone: () => void }) {
  const update = useUpdateCredentials()
  const demo = useDemoState()
  const [credentials, setCredentials] = useState<CredentialValues>(EMPTY_CREDENTIALS)
  const formError = formErrorOf(update.error, connection.exchange)

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault()
    update.mutate(
      { connectionId: connection.id, credentials: credentialsOf(credentials, connection.exchange) },
      { onSuccess: onDone },
    )
  }

  return (
    <form className="form form--inset" onSubmit={submit} noValidate aria-label="Reconnect with new keys">
      <CredentialsFields
        idPrefix={`reconnect-${connection.id}`}
        exchange={connection.exchange}
        values={credentials}
        onChange={setCredentials}
        errors={fieldErrorsOf(update.error)}
        demoKeys={demo.data?.keys ?? []}
      />
      {formError && (
        <p className="notice notice--error" role="alert">
          {formError}
        </p>
      )}
      <div className="form__actions">
        <button type="button" className="button button--ghost" onClick={onDone}>
          Cancel
        </button>
        <button type="submit" className="button button--primary" disabled={update.isPending}>
          {update.isPending ? 'Checking keys…' : 'Reconnect'}
        </button>
      </div>
    </form>
  )
}
