/**
 * The host's table as a typical NestJS app has it (id, user_id, exchange, status, last_sync_at, …), with the
 * columns syncfolio needs added by the host's own migration, and a balances table with exact `numeric` amounts.
 */
export const hostSchema = `
CREATE TABLE user_connections (
  id text PRIMARY KEY DEFAULT gen_random_uuid()::text,
  user_id text NOT NULL,
  exchange text NOT NULL,
  label text,
  status text NOT NULL DEFAULT 'active',
  credentials_sealed text NOT NULL,
  last_sync_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  -- added for syncfolio:
  last_attempt_at timestamptz,
  next_sync_at timestamptz,
  failure_count integer NOT NULL DEFAULT 0,
  last_error jsonb
);
CREATE INDEX user_connections_due ON user_connections (exchange, last_sync_at NULLS FIRST, id) WHERE status = 'active';
CREATE INDEX user_connections_user ON user_connections (user_id, created_at);
CREATE TABLE user_balances (
  connection_id text NOT NULL REFERENCES user_connections (id) ON DELETE CASCADE,
  asset text NOT NULL,
  free numeric NOT NULL,
  used numeric NOT NULL,
  total numeric NOT NULL,
  PRIMARY KEY (connection_id, asset)
);
`
