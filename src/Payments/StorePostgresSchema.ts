/** The payments tables in PostgreSQL, as versioned migrations (applied by `Store/Postgres.ts`'s `migrate`). */
import type { Migrations } from "../Store/Postgres.ts"

export const migrations: Migrations = {
  component: "payments",
  steps: [
    [
      `CREATE TABLE wallet_addresses (
         id TEXT PRIMARY KEY,
         url TEXT NOT NULL UNIQUE,
         path TEXT NOT NULL UNIQUE,
         asset_code TEXT NOT NULL,
         asset_scale INTEGER NOT NULL,
         public_name TEXT,
         active BOOLEAN NOT NULL DEFAULT TRUE,
         created_at BIGINT NOT NULL
       )`,
      `CREATE TABLE incoming_payments (
         id TEXT PRIMARY KEY,
         wallet_address_id TEXT NOT NULL REFERENCES wallet_addresses(id),
         incoming_amount NUMERIC(39, 0),
         expires_at BIGINT,
         metadata TEXT,
         state TEXT NOT NULL,
         created_at BIGINT NOT NULL,
         completed_at BIGINT
       )`,
      `CREATE INDEX incoming_payments_wallet ON incoming_payments(wallet_address_id, id)`,
      `CREATE TABLE quotes (
         id TEXT PRIMARY KEY,
         wallet_address_id TEXT NOT NULL REFERENCES wallet_addresses(id),
         receiver_kind TEXT NOT NULL,
         receiver TEXT NOT NULL,
         shared_secret TEXT,
         payment_type TEXT NOT NULL,
         debit_amount NUMERIC(39, 0) NOT NULL,
         debit_asset_code TEXT NOT NULL,
         debit_asset_scale INTEGER NOT NULL,
         receive_amount NUMERIC(39, 0) NOT NULL,
         receive_asset_code TEXT NOT NULL,
         receive_asset_scale INTEGER NOT NULL,
         max_packet_amount NUMERIC(39, 0) NOT NULL,
         min_exchange_rate TEXT NOT NULL,
         low_estimated_exchange_rate TEXT NOT NULL,
         high_estimated_exchange_rate TEXT NOT NULL,
         expires_at BIGINT NOT NULL,
         created_at BIGINT NOT NULL
       )`,
      `CREATE TABLE outgoing_payments (
         id TEXT PRIMARY KEY,
         quote_id TEXT NOT NULL UNIQUE REFERENCES quotes(id),
         wallet_address_id TEXT NOT NULL REFERENCES wallet_addresses(id),
         state TEXT NOT NULL,
         outcome TEXT,
         sent_amount NUMERIC(39, 0) NOT NULL,
         delivered_amount NUMERIC(39, 0) NOT NULL,
         error TEXT,
         attempts INTEGER NOT NULL,
         created_at BIGINT NOT NULL,
         updated_at BIGINT NOT NULL,
         lease_owner TEXT,
         lease_expires_at BIGINT
       )`,
      `CREATE INDEX outgoing_payments_unfinished ON outgoing_payments(created_at, id) WHERE state IN ('funding', 'sending')`,
      `CREATE INDEX outgoing_payments_wallet ON outgoing_payments(wallet_address_id, id)`
    ],
    // The events outbox (src/Events/): written in the transaction of the change that caused each.
    [
      `CREATE TABLE events (
         seq BIGSERIAL PRIMARY KEY,
         id TEXT NOT NULL UNIQUE,
         type TEXT NOT NULL,
         resource_id TEXT NOT NULL,
         data TEXT NOT NULL,
         created_at BIGINT NOT NULL,
         state TEXT NOT NULL,
         attempts INTEGER NOT NULL,
         next_attempt_at BIGINT NOT NULL,
         last_attempt_at BIGINT,
         last_error TEXT,
         delivered_at BIGINT,
         lease_owner TEXT,
         lease_expires_at BIGINT
       )`,
      `CREATE INDEX events_due ON events(next_attempt_at, seq) WHERE state = 'pending'`,
      `CREATE INDEX incoming_payments_overdue ON incoming_payments(expires_at) WHERE state IN ('pending', 'processing')`,
      `CREATE TABLE liquidity_alerts (
         key TEXT PRIMARY KEY,
         below BOOLEAN NOT NULL
       )`
    ]
  ]
}
