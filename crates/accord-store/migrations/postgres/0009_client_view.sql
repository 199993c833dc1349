-- Client authentication answered from memory: every node's access view also keeps the clients it
-- has authenticated (the app, its credential sets and the secret hashes) and the client ids it
-- found unknown. Any change to an app, its credential sets or their secrets appends rows to
-- `view_changes` in the same transaction (and NOTIFYs every node), and the view forgets every
-- remembered client of that app and that client id. Keys: 'app' names an app id, 'client' a
-- client id. Kept trigger-for-trigger equivalent to ../sqlite/.
CREATE FUNCTION client_view_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed RECORD;
    changed_key TEXT;
BEGIN
    -- An update names the row before and after (a credential set or secret may change hands).
    FOREACH changed_key IN ARRAY ARRAY['old', 'new'] LOOP
        IF (changed_key = 'old' AND TG_OP = 'INSERT') OR (changed_key = 'new' AND TG_OP = 'DELETE') THEN
            CONTINUE;
        END IF;
        IF changed_key = 'old' THEN
            changed := OLD;
        ELSE
            changed := NEW;
        END IF;
        IF TG_TABLE_NAME = 'apps' THEN
            INSERT INTO view_changes (kind, key, at)
                VALUES ('app', changed.id, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT);
        ELSIF TG_TABLE_NAME = 'app_credentials' THEN
            INSERT INTO view_changes (kind, key, at)
                VALUES ('app', changed.app_id, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT);
            INSERT INTO view_changes (kind, key, at)
                VALUES ('client', changed.client_id, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT);
        ELSE
            INSERT INTO view_changes (kind, key, at)
                VALUES ('client', changed.client_id, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT);
        END IF;
    END LOOP;
    PERFORM pg_notify('accord_view', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;

CREATE TRIGGER apps_view AFTER UPDATE OR DELETE ON apps
    FOR EACH ROW EXECUTE FUNCTION client_view_change();
CREATE TRIGGER app_credentials_view AFTER INSERT OR UPDATE OR DELETE ON app_credentials
    FOR EACH ROW EXECUTE FUNCTION client_view_change();
CREATE TRIGGER client_secrets_view AFTER INSERT OR UPDATE OR DELETE ON client_secrets
    FOR EACH ROW EXECUTE FUNCTION client_view_change();
