-- Client authentication answered from memory: every node's access view also keeps the clients it
-- has authenticated (the app, its credential sets and the secret hashes) and the client ids it
-- found unknown. Any change to an app, its credential sets or their secrets appends rows to
-- `view_changes` in the same transaction, and the view forgets every remembered client of that
-- app and that client id. Keys: 'app' names an app id, 'client' a client id. Kept
-- trigger-for-trigger equivalent to ../postgres/.
CREATE TRIGGER apps_view_update AFTER UPDATE ON apps BEGIN
    INSERT INTO view_changes (kind, key, at) VALUES ('app', NEW.id, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
END;
CREATE TRIGGER apps_view_delete AFTER DELETE ON apps BEGIN
    INSERT INTO view_changes (kind, key, at) VALUES ('app', OLD.id, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
END;

CREATE TRIGGER app_credentials_view_insert AFTER INSERT ON app_credentials BEGIN
    INSERT INTO view_changes (kind, key, at) VALUES ('app', NEW.app_id, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
    INSERT INTO view_changes (kind, key, at) VALUES ('client', NEW.client_id, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
END;
CREATE TRIGGER app_credentials_view_update AFTER UPDATE ON app_credentials BEGIN
    INSERT INTO view_changes (kind, key, at) VALUES ('app', OLD.app_id, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
    INSERT INTO view_changes (kind, key, at) VALUES ('client', OLD.client_id, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
    INSERT INTO view_changes (kind, key, at) VALUES ('app', NEW.app_id, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
    INSERT INTO view_changes (kind, key, at) VALUES ('client', NEW.client_id, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
END;
CREATE TRIGGER app_credentials_view_delete AFTER DELETE ON app_credentials BEGIN
    INSERT INTO view_changes (kind, key, at) VALUES ('app', OLD.app_id, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
    INSERT INTO view_changes (kind, key, at) VALUES ('client', OLD.client_id, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
END;

CREATE TRIGGER client_secrets_view_insert AFTER INSERT ON client_secrets BEGIN
    INSERT INTO view_changes (kind, key, at) VALUES ('client', NEW.client_id, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
END;
CREATE TRIGGER client_secrets_view_update AFTER UPDATE ON client_secrets BEGIN
    INSERT INTO view_changes (kind, key, at) VALUES ('client', OLD.client_id, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
    INSERT INTO view_changes (kind, key, at) VALUES ('client', NEW.client_id, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
END;
CREATE TRIGGER client_secrets_view_delete AFTER DELETE ON client_secrets BEGIN
    INSERT INTO view_changes (kind, key, at) VALUES ('client', OLD.client_id, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
END;
