-- Signed webhooks (vitrine-webhooks); see the SQLite migration for the why of each table.
CREATE TABLE webhook_endpoints (
    id                     UUID    NOT NULL PRIMARY KEY,
    account_id             UUID    REFERENCES accounts (id) ON DELETE CASCADE,
    url                    TEXT    NOT NULL,
    description            TEXT    NOT NULL,
    events                 TEXT    NOT NULL,
    enabled                BOOLEAN NOT NULL,
    disabled_reason        TEXT,
    secret_sealed          BYTEA   NOT NULL,
    previous_secret_sealed BYTEA,
    previous_secret_until  BIGINT,
    created_at             BIGINT  NOT NULL,
    updated_at             BIGINT  NOT NULL,
    version                BIGINT  NOT NULL
);
CREATE INDEX webhook_endpoints_by_account ON webhook_endpoints (account_id);

CREATE TABLE webhook_subscriptions (
    endpoint_id UUID NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    action      TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, action)
);
CREATE INDEX webhook_subscriptions_by_action ON webhook_subscriptions (action);

CREATE TABLE webhook_deliveries (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id     UUID    NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    audit_seq       BIGINT  NOT NULL,
    message_id      TEXT    NOT NULL,
    manual          BOOLEAN NOT NULL DEFAULT FALSE,
    state           TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    locked_until    BIGINT,
    created_at      BIGINT  NOT NULL,
    last_attempt_at BIGINT,
    last_status     INTEGER,
    last_error      TEXT,
    last_excerpt    TEXT,
    finished_at     BIGINT
);
CREATE INDEX webhook_deliveries_queue ON webhook_deliveries (endpoint_id, state, id);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);

-- The fan-out, in the transaction of the change (see the SQLite migration).
CREATE FUNCTION vitrine_webhook_fanout() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_deliveries (endpoint_id, audit_seq, message_id, state, attempts,
                                    next_attempt_at, created_at)
    SELECT e.id, NEW.seq, 'msg_' || replace(gen_random_uuid()::text, '-', ''), 'pending', 0,
           NEW.at, NEW.at
    FROM webhook_subscriptions s JOIN webhook_endpoints e ON e.id = s.endpoint_id
    WHERE s.action = NEW.action AND e.enabled
      AND (e.account_id IS NULL OR e.account_id = NEW.account_id);
    RETURN NULL;
END $$;

CREATE TRIGGER audit_events_webhooks AFTER INSERT ON audit_events
    FOR EACH ROW EXECUTE FUNCTION vitrine_webhook_fanout();
