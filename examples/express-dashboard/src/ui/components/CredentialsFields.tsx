import type { DemoKey } from '../../shared/demoStateSchema.js'
import type { FieldErrors } from './credentialErrors.js'

export interface CredentialValues {
  apiKey: string
  secret: string
  password: string
}

export const EMPTY_CREDENTIALS: CredentialValues = { apiKey: '', secret: '', password: '' }

export interface CredentialsFieldsProps {
  /** Prefixes the inputs' ids, so several forms can be on one page. */
  idPrefix: string
  exchange: string
  values: CredentialValues
  onChange: (values: CredentialValues) => void
  errors: FieldErrors
  /** Keys the demo's fake exchange knows, offered as one-click fill-ins. */
  demoKeys: readonly DemoKey[]
  onDemoKey?: (key: DemoKey) => void
}

/** API key, secret and (for OKX) passphrase inputs, with the demo's keys to fill them in. */
export function CredentialsFields(props: CredentialsFieldsProps) {
  const { idPrefix, exchange, values, onChange, errors, demoKeys } = props
  const keys = demoKeys.filter((key) => key.exchange === exchange)
  const field = (name: keyof CredentialValues, label: string, type: 'text' | 'password', hint?: string) => {
    const id = `${idPrefix}-${name}`
    const error = errors[name]
    return (
      <div className="field">
        <label htmlFor={id}>{label}</label>
        <input
          id={id}
          name={name}
          type={type}
          autoComplete="off"
          spellCheck={false}
          value={values[name]}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? `${id}-error` : undefined}
          onChange={(event) => onChange({ ...values, [name]: event.target.value })}
        />
        {error ? (
          <p id={`${id}-error`} className="field__error">
            {error}
          </p>
        ) : (
          hint && <p className="field__hint">{hint}</p>
        )}
      </div>
    )
  }
  return (
    <>
      {field('apiKey', 'API key', 'text', 'A read-only key is enough: syncfolio only reads balances.')}
      {field('secret', 'Secret', 'password')}
      {exchange === 'okx' &&
        field('password', 'Passphrase', 'password', 'The passphrase you chose when creating the key.')}
      {keys.length > 0 && (
        <div className="demo-keys">
          <span className="demo-keys__label">Demo keys:</span>
          {keys.map((key) => (
            <button
              key={key.id}
              type="button"
              className="link-button"
              onClick={() => {
                onChange({ apiKey: key.apiKey, secret: key.secret, password: key.password ?? '' })
                props.onDemoKey?.(key)
              }}
            >
              {key.label}
              {key.connected ? ' (connected)' : ''}
              {key.revoked ? ' (revoked)' : ''}
            </button>
          ))}
        </div>
      )}
    </>
  )
}

/** The credentials to send: empty optional fields left out, the passphrase only where the exchange uses one. */
export function credentialsOf(values: CredentialValues, exchange: string) {
  return {
    apiKey: values.apiKey,
    secret: values.secret,
    ...(exchange === 'okx' && values.password !== '' && { password: values.password }),
  }
}
