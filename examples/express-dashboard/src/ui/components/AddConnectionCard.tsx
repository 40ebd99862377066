import { useAddConnection, useExchanges } from '@syncfolio/react'
import { useQueryClient } from '@tanstack/react-query'
import { type FormEvent, useState } from 'react'
import type { DemoKey } from '../../shared/demoStateSchema.js'
import { DEMO_STATE_KEY } from '../demo/useDemoState.js'
import { exchangeName } from '../format/names.js'
import { CredentialsFields, type CredentialValues, credentialsOf, EMPTY_CREDENTIALS } from './CredentialsFields.js'
import { fieldErrorsOf, formErrorOf } from './credentialErrors.js'

/**
 * Connects another exchange account. The server test-fetches the keys before storing anything, so a refusal is
 * shown here and nothing is left behind.
 */
export function AddConnectionCard({ demoKeys }: { demoKeys: readonly DemoKey[] }) {
  const exchanges = useExchanges()
  const queryClient = useQueryClient()
  // The demo's key list says which keys are connected.
  const add = useAddConnection({
    mutation: { onSuccess: () => queryClient.invalidateQueries({ queryKey: DEMO_STATE_KEY }) },
  })
  const [exchange, setExchange] = useState('')
  const [label, setLabel] = useState('')
  const [credentials, setCredentials] = useState<CredentialValues>(EMPTY_CREDENTIALS)
  const [added, setAdded] = useState<string | null>(null)
  const selected = exchange || exchanges.data?.[0] || ''
  const fieldErrors = fieldErrorsOf(add.error)
  const formError = formErrorOf(add.error, selected)

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault()
    setAdded(null)
    add.mutate(
      {
        exchange: selected,
        ...(label.trim() && { label: label.trim() }),
        credentials: credentialsOf(credentials, selected),
      },
      {
        onSuccess: (connection) => {
          setAdded(`${connection.label ?? exchangeName(connection.exchange)} on ${exchangeName(connection.exchange)}`)
          setLabel('')
          setCredentials(EMPTY_CREDENTIALS)
        },
      },
    )
  }

  return (
    <section className="card" aria-labelledby="add-title">
      <div className="card__header">
        <div>
          <h2 id="add-title">Add connection</h2>
          <p className="muted small">Keys are checked with the exchange, stored on the server, and never sent back.</p>
        </div>
      </div>
      <form className="form" onSubmit={submit} noValidate>
        <div className="field-row">
          <div className="field">
            <label htmlFor="add-exchange">Exchange</label>
            <select
              id="add-exchange"
              value={selected}
              disabled={!exchanges.data}
              aria-invalid={fieldErrors.exchange ? true : undefined}
              onChange={(event) => {
                setExchange(event.target.value)
                add.reset()
              }}
            >
              {exchanges.data?.map((id) => (
                <option key={id} value={id}>
                  {exchangeName(id)}
                </option>
              ))}
            </select>
            {fieldErrors.exchange && <p className="field__error">{fieldErrors.exchange}</p>}
          </div>
          <div className="field">
            <label htmlFor="add-label">
              Label <span className="muted">(optional)</span>
            </label>
            <input
              id="add-label"
              value={label}
              placeholder="e.g. Savings"
              maxLength={100}
              aria-invalid={fieldErrors.label ? true : undefined}
              onChange={(event) => setLabel(event.target.value)}
            />
            {fieldErrors.label && <p className="field__error">{fieldErrors.label}</p>}
          </div>
        </div>
        <CredentialsFields
          idPrefix="add"
          exchange={selected}
          values={credentials}
          onChange={setCredentials}
          errors={fieldErrors}
          demoKeys={demoKeys}
          onDemoKey={(key) => setLabel(key.label)}
        />
        {formError && (
          <p className="notice notice--error" role="alert">
            {formError}
          </p>
        )}
        {added && !add.isPending && (
          <p className="notice notice--success" role="status">
            Connected {added}. Its first sync runs right away.
          </p>
        )}
        <button type="submit" className="button button--primary button--block" disabled={add.isPending || !selected}>
          {add.isPending ? `Checking keys with ${exchangeName(selected)}…` : 'Add connection'}
        </button>
      </form>
    </section>
  )
}
