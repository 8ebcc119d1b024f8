-- A refused inbound email may get one polite answer (at most one an hour per sender): the
-- log says whether it did, and the once-an-hour limit counts these. Kept column for column
-- identical to the other flavour (see 0001).
ALTER TABLE inbound_emails ADD COLUMN answered BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX inbound_emails_by_lower_sender ON inbound_emails (LOWER(sender), received_at);
