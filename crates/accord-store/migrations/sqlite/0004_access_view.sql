-- What every node's in-memory access view (grants, users' roles and status, role privileges,
-- assistant pairs) must learn about. Triggers write a row in the same transaction as the change
-- itself, so no code path can change access without telling the views. Nodes apply the rows after
-- the last sequence number they saw; rows older than an hour are pruned (a periodic full reload
-- covers a node that slept longer). Kept column-for-column identical to ../postgres/.
CREATE TABLE view_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    at BIGINT NOT NULL
);

CREATE TRIGGER grants_view_insert AFTER INSERT ON grants BEGIN
    INSERT INTO view_changes (kind, key, at) VALUES ('grant', NEW.id, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
END;
CREATE TRIGGER grants_view_update AFTER UPDATE ON grants BEGIN
    INSERT INTO view_changes (kind, key, at) VALUES ('grant', NEW.id, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
END;
CREATE TRIGGER grants_view_delete AFTER DELETE ON grants BEGIN
    INSERT INTO view_changes (kind, key, at) VALUES ('grant', OLD.id, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
END;

CREATE TRIGGER users_view_insert AFTER INSERT ON users BEGIN
    INSERT INTO view_changes (kind, key, at) VALUES ('user', NEW.id, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
END;
CREATE TRIGGER users_view_update AFTER UPDATE ON users BEGIN
    INSERT INTO view_changes (kind, key, at) VALUES ('user', NEW.id, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
END;
CREATE TRIGGER users_view_delete AFTER DELETE ON users BEGIN
    INSERT INTO view_changes (kind, key, at) VALUES ('user', OLD.id, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
END;

CREATE TRIGGER roles_view_insert AFTER INSERT ON roles BEGIN
    INSERT INTO view_changes (kind, key, at) VALUES ('role', NEW.account_id || '/' || NEW.id, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
END;
CREATE TRIGGER roles_view_update AFTER UPDATE ON roles BEGIN
    INSERT INTO view_changes (kind, key, at) VALUES ('role', NEW.account_id || '/' || NEW.id, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
END;
CREATE TRIGGER roles_view_delete AFTER DELETE ON roles BEGIN
    INSERT INTO view_changes (kind, key, at) VALUES ('role', OLD.account_id || '/' || OLD.id, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
END;

CREATE TRIGGER assistants_view_insert AFTER INSERT ON assistants BEGIN
    INSERT INTO view_changes (kind, key, at) VALUES ('assistant', NEW.assistant_id, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
END;
CREATE TRIGGER assistants_view_delete AFTER DELETE ON assistants BEGIN
    INSERT INTO view_changes (kind, key, at) VALUES ('assistant', OLD.assistant_id, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
END;
