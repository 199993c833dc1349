-- What every node's in-memory access view (grants, users' roles and status, role privileges,
-- assistant pairs) must learn about. Triggers write a row in the same transaction as the change
-- itself, so no code path can change access without telling the views, and NOTIFY every node
-- (delivered at commit). Nodes apply the rows after the last sequence number they saw; rows older
-- than an hour are pruned (a periodic full reload covers a node that slept longer). Kept
-- column-for-column identical to ../sqlite/.
CREATE TABLE view_changes (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    at BIGINT NOT NULL
);

CREATE FUNCTION view_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed RECORD;
    changed_key TEXT;
BEGIN
    IF TG_OP = 'DELETE' THEN
        changed := OLD;
    ELSE
        changed := NEW;
    END IF;
    IF TG_ARGV[0] = 'role' THEN
        changed_key := changed.account_id || '/' || changed.id;
    ELSIF TG_ARGV[0] = 'assistant' THEN
        changed_key := changed.assistant_id;
    ELSE
        changed_key := changed.id;
    END IF;
    INSERT INTO view_changes (kind, key, at)
        VALUES (TG_ARGV[0], changed_key, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT);
    PERFORM pg_notify('accord_view', TG_ARGV[0]);
    RETURN NULL;
END;
$$;

CREATE TRIGGER grants_view AFTER INSERT OR UPDATE OR DELETE ON grants
    FOR EACH ROW EXECUTE FUNCTION view_change('grant');
CREATE TRIGGER users_view AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION view_change('user');
CREATE TRIGGER roles_view AFTER INSERT OR UPDATE OR DELETE ON roles
    FOR EACH ROW EXECUTE FUNCTION view_change('role');
CREATE TRIGGER assistants_view AFTER INSERT OR DELETE ON assistants
    FOR EACH ROW EXECUTE FUNCTION view_change('assistant');
