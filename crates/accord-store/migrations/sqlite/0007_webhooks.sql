-- Webhooks: the transactional outbox, its delivery log, and endpoint validation state.
-- Kept column-for-column identical to ../postgres/0007_webhooks.sql.
--
-- One outbox row per (event, app): written in the same transaction as the change that raised it,
-- so a crash at any moment loses nothing. The row keeps a copy of the app's endpoint (URL and the
-- sealed secret token) as it was when the event was raised: an app's deletion must not take its
-- own `app_deauthorized` with it. While the app exists, its current endpoint is used.
CREATE TABLE webhook_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    app_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    event TEXT NOT NULL,
    event_ts BIGINT NOT NULL,
    -- The compact JSON envelope, exactly the bytes sent (and signed).
    body TEXT NOT NULL,
    endpoint_url TEXT NOT NULL,
    endpoint_secret BLOB NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    -- A lease: the node delivering the row holds it until then; a node that dies mid-delivery
    -- leaves the row to the next claimer once the lease runs out.
    claimed_until BIGINT,
    claimed_by TEXT,
    delivered_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX webhook_events_due ON webhook_events (status, next_attempt_at, seq);
CREATE INDEX webhook_events_by_app ON webhook_events (app_id, seq);

-- Every attempt to reach an endpoint (deliveries and URL validations): the developer's delivery log.
CREATE TABLE webhook_attempts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id TEXT NOT NULL,
    -- NULL for a URL validation.
    event_id TEXT,
    at BIGINT NOT NULL,
    url TEXT NOT NULL,
    -- The HTTP status, NULL when none came back (refused, timed out, unreachable).
    status_code BIGINT,
    latency_ms BIGINT NOT NULL,
    -- delivered | retry | failed | validated | invalid
    outcome TEXT NOT NULL,
    error TEXT,
    response_excerpt TEXT
);
CREATE INDEX webhook_attempts_by_app ON webhook_attempts (app_id, seq);
CREATE INDEX webhook_attempts_by_event ON webhook_attempts (event_id, seq);

-- Endpoint validation (webhooks.md): when the next validation is due, and why the last one failed.
ALTER TABLE apps ADD COLUMN webhook_validation_due_at BIGINT;
ALTER TABLE apps ADD COLUMN webhook_validation_error TEXT;
