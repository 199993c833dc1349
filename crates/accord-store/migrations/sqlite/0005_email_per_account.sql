-- no-transaction
-- Email addresses are unique within an account, no longer across the deployment: the same address
-- may be a user of several accounts, so no tenant learns of another's users by being refused one.
-- Kept equivalent to ../postgres/0005_email_per_account.sql; a test compares the schemas.
--
-- SQLite cannot drop a column's UNIQUE in place, so `users` is rebuilt: a new table, the rows
-- copied unchanged, the old one dropped, the new one renamed, then its indexes and the view
-- triggers of 0004 made again. `assistants` and `meetings` reference users (id); with foreign keys
-- on, dropping the old table would count every such row as a violation (even deferred, the count
-- is never taken back by the copy), so they are off for the rebuild. That setting only changes
-- outside a transaction, hence this migration runs without sqlx's and opens its own: it applies
-- in full or not at all, and running it again (should the process stop before sqlx records it)
-- rebuilds the same table again.
PRAGMA foreign_keys = OFF;

BEGIN IMMEDIATE;

DROP TABLE IF EXISTS users_rebuilt;

CREATE TABLE users_rebuilt (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    email TEXT NOT NULL,
    email_key TEXT NOT NULL,
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
    FOREIGN KEY (account_id, role_id) REFERENCES roles (account_id, id),
    CONSTRAINT users_one_email_per_account UNIQUE (account_id, email_key)
);

INSERT INTO users_rebuilt (id, account_id, email, email_key, first_name, last_name, user_type,
    status, timezone, pmi, role_id, password_hash, created_at, updated_at, last_login_at)
SELECT id, account_id, email, email_key, first_name, last_name, user_type,
    status, timezone, pmi, role_id, password_hash, created_at, updated_at, last_login_at
FROM users;

DROP TABLE users;
ALTER TABLE users_rebuilt RENAME TO users;

-- As in 0001.
CREATE UNIQUE INDEX users_one_owner_per_account ON users (account_id) WHERE role_id = '0';
CREATE INDEX users_by_account ON users (account_id, id);
-- Sign-in looks an address up in every account.
CREATE INDEX users_by_email ON users (email_key);

-- As in 0004.
CREATE TRIGGER users_view_insert AFTER INSERT ON users BEGIN
    INSERT INTO view_changes (kind, key, at) VALUES ('user', NEW.id, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
END;
CREATE TRIGGER users_view_update AFTER UPDATE ON users BEGIN
    INSERT INTO view_changes (kind, key, at) VALUES ('user', NEW.id, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
END;
CREATE TRIGGER users_view_delete AFTER DELETE ON users BEGIN
    INSERT INTO view_changes (kind, key, at) VALUES ('user', OLD.id, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
END;

COMMIT;

PRAGMA foreign_keys = ON;
