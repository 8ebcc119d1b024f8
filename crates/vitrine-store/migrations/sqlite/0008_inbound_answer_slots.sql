-- At most one polite answer an hour per sender, decided atomically: a row per sender (lower
-- case) with the time of its last answer, taken in the transaction that logs the refusal
-- (a conditional upsert), so two refusals taken at once cannot both answer. Seeded from the
-- log. Kept column for column identical to the other flavour (see 0001).
CREATE TABLE inbound_answers (
    sender TEXT PRIMARY KEY NOT NULL,
    answered_at INTEGER NOT NULL
);
INSERT INTO inbound_answers (sender, answered_at)
    SELECT LOWER(sender), MAX(received_at) FROM inbound_emails
    WHERE answered AND sender <> '' GROUP BY LOWER(sender);
