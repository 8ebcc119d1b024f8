-- Signed webhooks (vitrine-webhooks). An endpoint belongs to an account (its owners manage
-- it, it receives what concerns that account) or, with no account, to the marketplace
-- (admins; it receives everything). Its secret is sealed with the operator's key; during a
-- rotation's overlap the previous one signs too.
CREATE TABLE webhook_endpoints (
    id                     BLOB    NOT NULL PRIMARY KEY,
    account_id             BLOB    REFERENCES accounts (id) ON DELETE CASCADE,
    url                    TEXT    NOT NULL,
    description            TEXT    NOT NULL,
    -- The subscribed event types, JSON (the domain's names).
    events                 TEXT    NOT NULL,
    enabled                INTEGER NOT NULL,
    disabled_reason        TEXT,
    secret_sealed          BLOB    NOT NULL,
    previous_secret_sealed BLOB,
    previous_secret_until  INTEGER,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL,
    version                INTEGER NOT NULL
);
CREATE INDEX webhook_endpoints_by_account ON webhook_endpoints (account_id);

-- The audit actions each endpoint's event types stand for (the domain's
-- `EventType::actions`), written with the endpoint: what the fan-out below matches.
CREATE TABLE webhook_subscriptions (
    endpoint_id BLOB NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    action      TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, action)
);
CREATE INDEX webhook_subscriptions_by_action ON webhook_subscriptions (action);

-- One row per message to one endpoint, in the order of the changes (`id`). Sent one at a
-- time per endpoint, oldest first: a later one waits while an earlier one is pending.
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id     BLOB    NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    audit_seq       INTEGER NOT NULL,
    -- `webhook-id`: the same on every attempt and on a hand redelivery (receivers dedupe).
    message_id      TEXT    NOT NULL,
    manual          INTEGER NOT NULL DEFAULT 0,
    -- pending, delivered, failed (gave up), skipped (not an event for this endpoint).
    state           TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    locked_until    INTEGER,
    created_at      INTEGER NOT NULL,
    last_attempt_at INTEGER,
    last_status     INTEGER,
    last_error      TEXT,
    last_excerpt    TEXT,
    finished_at     INTEGER
);
CREATE INDEX webhook_deliveries_queue ON webhook_deliveries (endpoint_id, state, id);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);

-- The fan-out, in the transaction of the change: every audit event whose action an enabled
-- endpoint subscribed to, and whose account that endpoint may see, becomes a delivery.
CREATE TRIGGER audit_events_webhooks AFTER INSERT ON audit_events
BEGIN
    INSERT INTO webhook_deliveries (endpoint_id, audit_seq, message_id, state, attempts,
                                    next_attempt_at, created_at)
    SELECT e.id, NEW.seq, 'msg_' || lower(hex(randomblob(16))), 'pending', 0, NEW.at, NEW.at
    FROM webhook_subscriptions s JOIN webhook_endpoints e ON e.id = s.endpoint_id
    WHERE s.action = NEW.action AND e.enabled = 1
      AND (e.account_id IS NULL OR e.account_id = NEW.account_id);
END;
