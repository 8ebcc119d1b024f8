-- vitrine schema, SQLite flavour. Kept column for column identical to the PostgreSQL one
-- (migrations/postgres) so that the queries in src/shared.rs run unchanged on both.
-- Ids are UUIDs stored as 16-byte BLOBs; times are microseconds since the Unix epoch (UTC);
-- parts never filtered on are JSON text.

CREATE TABLE users (
    id            BLOB    NOT NULL PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE,
    display_name  TEXT    NOT NULL,
    language      TEXT    NOT NULL,
    time_zone     TEXT    NOT NULL,
    is_admin      INTEGER NOT NULL DEFAULT 0,
    is_validator  INTEGER NOT NULL DEFAULT 0,
    password_hash TEXT,
    created_at    INTEGER NOT NULL,
    version       INTEGER NOT NULL
);

CREATE TABLE accounts (
    id                    BLOB    NOT NULL PRIMARY KEY,
    name                  TEXT    NOT NULL,
    -- The provider application: status and date are columns (listed and filtered on),
    -- the rest is JSON (vitrine_domain::ProviderApplication).
    provider_status       TEXT,
    provider_submitted_at INTEGER,
    provider_application  TEXT,
    created_at            INTEGER NOT NULL,
    version               INTEGER NOT NULL
);
CREATE INDEX accounts_by_name ON accounts (name, id);
CREATE INDEX accounts_by_provider_status ON accounts (provider_status, provider_submitted_at)
    WHERE provider_status IS NOT NULL;

CREATE TABLE memberships (
    account_id BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL,
    -- Members keep the order they were added in.
    position   INTEGER NOT NULL,
    PRIMARY KEY (account_id, user_id)
);
CREATE INDEX memberships_by_user ON memberships (user_id, account_id);

CREATE TABLE offerings (
    -- SQLite only: a stable integer rowid, which the external-content FTS table refers to
    -- (an implicit rowid may change on VACUUM).
    seq                 INTEGER PRIMARY KEY,
    id                  BLOB    NOT NULL UNIQUE,
    name                TEXT    NOT NULL UNIQUE,
    provider_account_id BLOB    NOT NULL REFERENCES accounts (id),
    display_name        TEXT    NOT NULL,
    description         TEXT    NOT NULL,
    category            TEXT,
    documentation_url   TEXT,
    support_contact     TEXT,
    plans               TEXT    NOT NULL,
    visibility          TEXT    NOT NULL,
    attestations        TEXT    NOT NULL,
    -- vitrine_domain::search::document, folded; indexed by offerings_fts.
    search_document     TEXT    NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    version             INTEGER NOT NULL
);
CREATE INDEX offerings_by_provider ON offerings (provider_account_id, name);
CREATE INDEX offerings_by_visibility ON offerings (visibility, name);
CREATE INDEX offerings_by_category ON offerings (category, name) WHERE category IS NOT NULL;

CREATE TABLE offering_tags (
    offering_id BLOB NOT NULL REFERENCES offerings (id) ON DELETE CASCADE,
    tag         TEXT NOT NULL,
    PRIMARY KEY (offering_id, tag)
) WITHOUT ROWID;
CREATE INDEX offering_tags_by_tag ON offering_tags (tag, offering_id);

CREATE TABLE offering_allowlist (
    offering_id BLOB NOT NULL REFERENCES offerings (id) ON DELETE CASCADE,
    account_id  BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    PRIMARY KEY (offering_id, account_id)
) WITHOUT ROWID;
CREATE INDEX offering_allowlist_by_account ON offering_allowlist (account_id, offering_id);

-- Full-text index of offerings.search_document. The `ascii` tokenizer splits on ASCII
-- punctuation and spaces only and keeps every non-ASCII character inside words; since the
-- document is already folded to alphanumeric words separated by single spaces, its tokens
-- are exactly the document's words, as vitrine_domain::search::matches defines them.
CREATE VIRTUAL TABLE offerings_fts USING fts5 (
    search_document,
    content = 'offerings',
    content_rowid = 'seq',
    tokenize = 'ascii',
    prefix = '1 2 3'
);
CREATE TRIGGER offerings_fts_insert AFTER INSERT ON offerings BEGIN
    INSERT INTO offerings_fts (rowid, search_document) VALUES (new.seq, new.search_document);
END;
CREATE TRIGGER offerings_fts_delete AFTER DELETE ON offerings BEGIN
    INSERT INTO offerings_fts (offerings_fts, rowid, search_document)
        VALUES ('delete', old.seq, old.search_document);
END;
CREATE TRIGGER offerings_fts_update AFTER UPDATE OF search_document ON offerings
    WHEN old.search_document IS NOT new.search_document
BEGIN
    INSERT INTO offerings_fts (offerings_fts, rowid, search_document)
        VALUES ('delete', old.seq, old.search_document);
    INSERT INTO offerings_fts (rowid, search_document) VALUES (new.seq, new.search_document);
END;

CREATE TABLE audit_events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    at           INTEGER NOT NULL,
    actor        BLOB,
    action       TEXT    NOT NULL,
    subject_kind TEXT    NOT NULL,
    subject_id   TEXT    NOT NULL,
    account_id   BLOB,
    offering_id  BLOB,
    before       TEXT,
    after        TEXT
);
CREATE INDEX audit_events_by_account ON audit_events (account_id, seq);
CREATE INDEX audit_events_by_offering ON audit_events (offering_id, seq);
CREATE INDEX audit_events_by_actor ON audit_events (actor, seq);
CREATE INDEX audit_events_by_action ON audit_events (action, seq);
CREATE INDEX audit_events_by_subject_kind ON audit_events (subject_kind, seq);

CREATE TABLE sessions (
    hash       BLOB    NOT NULL PRIMARY KEY,
    user_id    BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE api_tokens (
    id           BLOB    NOT NULL PRIMARY KEY,
    user_id      BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    hash         BLOB    NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
CREATE INDEX api_tokens_by_user ON api_tokens (user_id, created_at);
