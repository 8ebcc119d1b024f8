-- The rehearsal clock's offset (microseconds ahead of the real clock), shared by every
-- server on this database: an advance through one server moves them all.
CREATE TABLE test_clock (
    id            INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    offset_micros BIGINT  NOT NULL CHECK (offset_micros >= 0)
);
INSERT INTO test_clock (id, offset_micros) VALUES (1, 0);

-- Change notices for the other servers' caches (`LISTEN vitrine_changes`). A notice is
-- delivered at commit and PostgreSQL folds identical notices of one transaction into one.
-- 'write': something a cached answer may show changed. Every state change writes audit
-- events in its transaction, so their table stands for all of it; signing out and revoking
-- a token write none, so theirs are watched too (a token's last use is not a change).
-- 'clock': the test clock moved.
CREATE FUNCTION vitrine_notify_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('vitrine_changes', 'write');
    RETURN NULL;
END $$;

CREATE FUNCTION vitrine_notify_clock() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('vitrine_changes', 'clock');
    RETURN NULL;
END $$;

CREATE TRIGGER audit_events_notify AFTER INSERT ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION vitrine_notify_write();
CREATE TRIGGER sessions_notify AFTER DELETE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION vitrine_notify_write();
CREATE TRIGGER api_tokens_notify AFTER UPDATE OF revoked_at ON api_tokens
    FOR EACH ROW WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at)
    EXECUTE FUNCTION vitrine_notify_write();
CREATE TRIGGER test_clock_notify AFTER UPDATE ON test_clock
    FOR EACH STATEMENT EXECUTE FUNCTION vitrine_notify_clock();
