-- Email both ways: reply addresses, the inbound log, and addresses that bounce.
-- Kept column for column identical to the other flavour (see 0001).

-- The key of each reply address an email carried (Reply-To: reply+<key>@…): only the
-- SHA-256 of the key is kept, with the recipient whose reply it admits and the thread it
-- goes into. Written with the outbox row of its email, in the same transaction.
CREATE TABLE reply_keys (
    hash          BLOB   NOT NULL PRIMARY KEY,
    user_id       BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    submission_id BLOB    NOT NULL REFERENCES submissions (id),
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER
);
CREATE INDEX reply_keys_by_user ON reply_keys (user_id, submission_id);

-- Every inbound email taken, once per Message-ID: what it did (posted, refused) and why.
-- Written in the same transaction as what it caused, so reading a message twice (a crash
-- before the mailbox was told) changes nothing the second time.
CREATE TABLE inbound_emails (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id    TEXT    NOT NULL UNIQUE,
    received_at   INTEGER NOT NULL,
    sender        TEXT    NOT NULL,
    subject       TEXT    NOT NULL,
    submission_id BLOB,
    user_id       BLOB,
    outcome       TEXT    NOT NULL,
    reason        TEXT,
    recordings    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX inbound_emails_by_sender ON inbound_emails (sender, received_at);

-- Addresses whose mail bounced (a delivery failure report came back): nothing more is
-- sent to them until someone clears the mark.
CREATE TABLE bouncing_addresses (
    email      TEXT    NOT NULL PRIMARY KEY,
    since      INTEGER NOT NULL,
    report     TEXT    NOT NULL
);
