-- An account's own rate limits (api.md "Rate limits": configurable per account), as JSON in the
-- shape of accord_core::rate_limits (`{"light": {"per_second": 50}}`; `{}` follows the defaults).
-- Every node's limiter reads them from its access view, so a change reaches running servers
-- through view_changes and NOTIFY accord_view like any access change (kind 'account', key the
-- account id). Kept column-for-column identical to ../sqlite/.
ALTER TABLE accounts ADD COLUMN rate_limits TEXT NOT NULL DEFAULT '{}';

CREATE TRIGGER accounts_view AFTER INSERT OR UPDATE OF rate_limits OR DELETE ON accounts
    FOR EACH ROW EXECUTE FUNCTION view_change('account');
