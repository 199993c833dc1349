-- Accord foundation schema (SQLite). Kept column-for-column identical to
-- ../postgres/0001_foundation.sql; a test compares the two.
-- Conventions: ids and JSON as TEXT, times as BIGINT milliseconds since the epoch,
-- flags as BIGINT 0/1, hashes and ciphertexts as BLOB.

CREATE TABLE deployment_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    app_approval TEXT NOT NULL CHECK (app_approval IN ('open', 'preapproval')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE roles (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    description TEXT NOT NULL,
    privileges TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, name_key)
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    email TEXT NOT NULL,
    email_key TEXT NOT NULL UNIQUE,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    user_type BIGINT NOT NULL CHECK (user_type IN (1, 2)),
    status TEXT NOT NULL CHECK (status IN ('active', 'inactive', 'pending')),
    timezone TEXT NOT NULL,
    pmi BIGINT NOT NULL UNIQUE,
    role_id TEXT NOT NULL,
    password_hash TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_login_at BIGINT,
    FOREIGN KEY (account_id, role_id) REFERENCES roles (account_id, id)
);
-- At most one owner per account; the code keeps it exactly one.
CREATE UNIQUE INDEX users_one_owner_per_account ON users (account_id) WHERE role_id = '0';
CREATE INDEX users_by_account ON users (account_id, id);

CREATE TABLE assistants (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    assistant_id TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, assistant_id),
    CHECK (user_id <> assistant_id)
);
CREATE INDEX assistants_by_assistant ON assistants (assistant_id);

CREATE TABLE apps (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('account', 'user', 'server')),
    developer_account_id TEXT NOT NULL REFERENCES accounts (id),
    developer_user_id TEXT,
    status TEXT NOT NULL CHECK (status IN ('development', 'published')),
    required_scopes TEXT NOT NULL,
    optional_scopes TEXT NOT NULL,
    public_client BIGINT NOT NULL CHECK (public_client IN (0, 1)),
    webhook_url TEXT,
    webhook_secret BLOB,
    webhook_events TEXT NOT NULL,
    webhook_validated_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (developer_account_id, name)
);

CREATE TABLE app_credentials (
    client_id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps (id),
    environment TEXT NOT NULL CHECK (environment IN ('development', 'production')),
    redirect_uris TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (app_id, environment)
);

CREATE TABLE client_secrets (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES app_credentials (client_id),
    secret_hash BLOB NOT NULL,
    -- 1 for the first secret of a credential set, +1 per rotation: "older" without clock ties.
    serial BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (client_id, serial)
);
CREATE INDEX client_secrets_by_client ON client_secrets (client_id);

CREATE TABLE grants (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('installation', 'authorization', 'server')),
    app_id TEXT NOT NULL REFERENCES apps (id),
    account_id TEXT NOT NULL REFERENCES accounts (id),
    user_id TEXT,
    created_by TEXT,
    scopes TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
    generation BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    revoked_at BIGINT,
    revoked_reason TEXT
);
-- One installation or server grant per (app, account); one authorization per (app, user).
CREATE UNIQUE INDEX grants_one_per_account ON grants (app_id, account_id) WHERE user_id IS NULL;
CREATE UNIQUE INDEX grants_one_per_user ON grants (app_id, user_id) WHERE user_id IS NOT NULL;
CREATE INDEX grants_by_account ON grants (account_id);

CREATE TABLE app_preapprovals (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    app_id TEXT NOT NULL REFERENCES apps (id),
    status TEXT NOT NULL CHECK (status IN ('requested', 'approved', 'declined')),
    requested_by TEXT,
    requested_at BIGINT,
    decided_by TEXT,
    decided_at BIGINT,
    PRIMARY KEY (account_id, app_id)
);

CREATE TABLE blocked_apps (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    app_id TEXT NOT NULL REFERENCES apps (id),
    blocked_by TEXT,
    blocked_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, app_id)
);

-- Append-only: rows are never changed or removed (triggers below), not even with the account.
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    actor_kind TEXT NOT NULL CHECK (actor_kind IN ('user', 'app', 'system')),
    actor_id TEXT,
    action TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE INDEX audit_log_by_account_time ON audit_log (account_id, at, seq);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
