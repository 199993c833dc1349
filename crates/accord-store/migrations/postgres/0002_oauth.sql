-- The authorization server's state (PostgreSQL). Kept column-for-column identical to
-- ../sqlite/0002_oauth.sql; a test compares the two.

-- Ed25519 signing keys. The private half is encrypted under the master key. A key is published in
-- JWKS from creation, signs from `signs_from` (announce before use), and stays published after it
-- is superseded until every token it signed has expired.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    public_key BYTEA NOT NULL,
    private_key BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    signs_from BIGINT NOT NULL
);

-- Browser sign-in sessions, by keyed hash of the cookie value.
CREATE TABLE sessions (
    id_hash BYTEA PRIMARY KEY,
    user_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);

-- Authorization codes: single use, bound to client, redirect URI and PKCE challenge.
CREATE TABLE authorization_codes (
    code_hash BYTEA PRIMARY KEY,
    grant_id TEXT NOT NULL REFERENCES grants (id),
    generation BIGINT NOT NULL,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT,
    code_challenge_method TEXT,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    family_id TEXT
);

-- Refresh tokens, by keyed hash. Every refresh rotates: a token's one successor is derived from it,
-- so concurrent refreshes of one parent all reach the same successor.
CREATE TABLE refresh_tokens (
    id TEXT PRIMARY KEY,
    token_hash BYTEA NOT NULL UNIQUE,
    family_id TEXT NOT NULL,
    parent_id TEXT,
    grant_id TEXT NOT NULL REFERENCES grants (id),
    generation BIGINT NOT NULL,
    client_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_by_grant ON refresh_tokens (grant_id);
