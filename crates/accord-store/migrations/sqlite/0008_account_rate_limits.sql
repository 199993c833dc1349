-- An account's own rate limits (api.md "Rate limits": configurable per account), as JSON in the
-- shape of accord_core::rate_limits (`{"light": {"per_second": 50}}`; `{}` follows the defaults).
-- Every node's limiter reads them from its access view, so a change reaches running servers
-- through view_changes like any access change (kind 'account', key the account id).
-- Kept column-for-column identical to ../postgres/.
ALTER TABLE accounts ADD COLUMN rate_limits TEXT NOT NULL DEFAULT '{}';

CREATE TRIGGER accounts_view_insert AFTER INSERT ON accounts BEGIN
    INSERT INTO view_changes (kind, key, at) VALUES ('account', NEW.id, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
END;
CREATE TRIGGER accounts_view_update AFTER UPDATE OF rate_limits ON accounts BEGIN
    INSERT INTO view_changes (kind, key, at) VALUES ('account', NEW.id, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
END;
CREATE TRIGGER accounts_view_delete AFTER DELETE ON accounts BEGIN
    INSERT INTO view_changes (kind, key, at) VALUES ('account', OLD.id, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
END;
