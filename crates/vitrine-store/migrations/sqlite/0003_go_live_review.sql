-- The go-live review (issue 3): marketplace settings, validator capacities, requirement
-- versions, submissions, recordings, uploads, the thread, review sessions and the outbox.
-- Kept column for column identical to the PostgreSQL flavour (see 0001).

-- One row per marketplace-wide setting (today only `calendar`), JSON, version-checked.
CREATE TABLE marketplace_settings (
    key        TEXT    NOT NULL PRIMARY KEY,
    value      TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- A validator's own per-session capacity; without a row the calendar's default applies.
CREATE TABLE validator_capacities (
    user_id  BLOB    NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    capacity INTEGER NOT NULL
);

-- Every version of the demo requirement list; the highest is current. Version 1 (the
-- default list) is written when the store opens.
CREATE TABLE requirement_sets (
    version      INTEGER NOT NULL PRIMARY KEY,
    requirements TEXT    NOT NULL,
    created_at   INTEGER NOT NULL
);

CREATE TABLE submissions (
    id                  BLOB    NOT NULL PRIMARY KEY,
    offering_id         BLOB    NOT NULL REFERENCES offerings (id),
    provider_account_id BLOB    NOT NULL REFERENCES accounts (id),
    state               TEXT    NOT NULL,
    validator_id        BLOB,
    -- The current round's number and submission time: the queue order.
    round_number        INTEGER NOT NULL,
    submitted_at        INTEGER,
    publication_at      INTEGER,
    -- Every round (vitrine_domain::go_live::Round), JSON.
    rounds              TEXT    NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    version             INTEGER NOT NULL
);
-- At most one submission in progress per offering, whatever races between requests.
CREATE UNIQUE INDEX submissions_one_open_per_offering ON submissions (offering_id)
    WHERE state NOT IN ('rejected', 'published', 'withdrawn');
CREATE INDEX submissions_by_offering ON submissions (offering_id, created_at);
CREATE INDEX submissions_by_account ON submissions (provider_account_id, created_at);
CREATE INDEX submissions_by_state ON submissions (state, submitted_at);
CREATE INDEX submissions_by_validator ON submissions (validator_id, updated_at);

CREATE TABLE recordings (
    id               BLOB    NOT NULL PRIMARY KEY,
    submission_id    BLOB    NOT NULL REFERENCES submissions (id),
    uploaded_by      BLOB    NOT NULL REFERENCES users (id),
    file_name        TEXT    NOT NULL,
    size             INTEGER NOT NULL,
    sha256           TEXT    NOT NULL,
    media_type       TEXT    NOT NULL,
    duration_seconds REAL,
    created_at       INTEGER NOT NULL
);
CREATE INDEX recordings_by_submission ON recordings (submission_id, created_at);

-- Resumable uploads in progress (tus); the bytes are in the blob store.
CREATE TABLE uploads (
    id              BLOB    NOT NULL PRIMARY KEY,
    submission_id   BLOB    NOT NULL REFERENCES submissions (id),
    user_id         BLOB    NOT NULL REFERENCES users (id),
    declared_length INTEGER,
    file_name       TEXT,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL
);
CREATE INDEX uploads_by_expiry ON uploads (expires_at);

CREATE TABLE messages (
    id            BLOB    NOT NULL PRIMARY KEY,
    submission_id BLOB    NOT NULL REFERENCES submissions (id),
    author        BLOB    NOT NULL REFERENCES users (id),
    side          TEXT    NOT NULL,
    body          TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX messages_by_submission ON messages (submission_id, created_at);

-- Review sessions that happened, by nominal date (ISO `YYYY-MM-DD`). Each scheduled step of
-- a session is marked here in the same transaction as its effects (see src/lib.rs).
CREATE TABLE review_sessions (
    nominal_date       TEXT    NOT NULL PRIMARY KEY,
    opened_at          INTEGER NOT NULL,
    overdue_flagged_at INTEGER
);

-- Emails, written in the same transaction as the change that causes them.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at      INTEGER NOT NULL,
    recipients      TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    submission_id   BLOB,
    -- The email as it will be sent (vitrine_mail::OutgoingEmail), JSON.
    payload         TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    sent_at         INTEGER,
    locked_until    INTEGER
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
