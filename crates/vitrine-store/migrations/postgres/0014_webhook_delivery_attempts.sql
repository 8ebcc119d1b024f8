-- Every attempt of a webhook delivery, not only the last (vitrine-webhooks' delivery log):
-- when, the receiver's status code, how long it took, the first KiB of its answer, or why
-- there was none. Written in the transaction that records the attempt on the delivery.
-- Retention: at most one try and the retry schedule's seven retries per delivery (a hand
-- redelivery is a delivery of its own), and the attempts go with their delivery.
CREATE TABLE webhook_delivery_attempts (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id  BIGINT  NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at BIGINT  NOT NULL,
    status       INTEGER,
    duration_ms  INTEGER,
    excerpt      TEXT,
    error        TEXT
);
CREATE INDEX webhook_delivery_attempts_by_delivery ON webhook_delivery_attempts (delivery_id, id);
