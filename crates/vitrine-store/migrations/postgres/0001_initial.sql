-- vitrine schema, PostgreSQL flavour. Kept column for column identical to the SQLite one
-- (migrations/sqlite) so that the queries in src/shared.rs run unchanged on both.
-- Times are microseconds since the Unix epoch (UTC) in BIGINT, like on SQLite; parts never
-- filtered on are JSON text. Names, emails and tags sort with the "C" collation: byte order,
-- the same as SQLite and as Rust, so cursors and orderings agree on both backends.

CREATE TABLE users (
    id            UUID    NOT NULL PRIMARY KEY,
    email         TEXT    COLLATE "C" NOT NULL UNIQUE,
    display_name  TEXT    NOT NULL,
    language      TEXT    NOT NULL,
    time_zone     TEXT    NOT NULL,
    is_admin      BOOLEAN NOT NULL DEFAULT FALSE,
    is_validator  BOOLEAN NOT NULL DEFAULT FALSE,
    password_hash TEXT,
    created_at    BIGINT  NOT NULL,
    version       BIGINT  NOT NULL
);

CREATE TABLE accounts (
    id                    UUID   NOT NULL PRIMARY KEY,
    name                  TEXT   COLLATE "C" NOT NULL,
    -- The provider application: status and date are columns (listed and filtered on),
    -- the rest is JSON (vitrine_domain::ProviderApplication).
    provider_status       TEXT,
    provider_submitted_at BIGINT,
    provider_application  TEXT,
    created_at            BIGINT NOT NULL,
    version               BIGINT NOT NULL
);
CREATE INDEX accounts_by_name ON accounts (name, id);
CREATE INDEX accounts_by_provider_status ON accounts (provider_status, provider_submitted_at)
    WHERE provider_status IS NOT NULL;

CREATE TABLE memberships (
    account_id UUID   NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    user_id    UUID   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT   NOT NULL,
    -- Members keep the order they were added in.
    position   BIGINT NOT NULL,
    PRIMARY KEY (account_id, user_id)
);
CREATE INDEX memberships_by_user ON memberships (user_id, account_id);

CREATE TABLE offerings (
    id                  UUID   NOT NULL PRIMARY KEY,
    name                TEXT   COLLATE "C" NOT NULL UNIQUE,
    provider_account_id UUID   NOT NULL REFERENCES accounts (id),
    display_name        TEXT   NOT NULL,
    description         TEXT   NOT NULL,
    category            TEXT   COLLATE "C",
    documentation_url   TEXT,
    support_contact     TEXT,
    plans               TEXT   NOT NULL,
    visibility          TEXT   NOT NULL,
    attestations        TEXT   NOT NULL,
    -- vitrine_domain::search::document, folded; indexed by offerings_search below.
    search_document     TEXT   NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    version             BIGINT NOT NULL
);
CREATE INDEX offerings_by_provider ON offerings (provider_account_id, name);
CREATE INDEX offerings_by_visibility ON offerings (visibility, name);
CREATE INDEX offerings_by_category ON offerings (category, name) WHERE category IS NOT NULL;
-- The words of the folded document, as they are: array_to_tsvector takes the words split on
-- single spaces without a parser or dictionary, so a prefix query (`'term':*`) matches
-- exactly when vitrine_domain::search::matches does. (to_tsvector's parser would re-split
-- some words, and how it treats non-ASCII letters depends on the database's locale.)
CREATE INDEX offerings_search ON offerings
    USING GIN (array_to_tsvector(string_to_array(search_document, ' ')));

CREATE TABLE offering_tags (
    offering_id UUID NOT NULL REFERENCES offerings (id) ON DELETE CASCADE,
    tag         TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (offering_id, tag)
);
CREATE INDEX offering_tags_by_tag ON offering_tags (tag, offering_id);

CREATE TABLE offering_allowlist (
    offering_id UUID NOT NULL REFERENCES offerings (id) ON DELETE CASCADE,
    account_id  UUID NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    PRIMARY KEY (offering_id, account_id)
);
CREATE INDEX offering_allowlist_by_account ON offering_allowlist (account_id, offering_id);

CREATE TABLE audit_events (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           BIGINT NOT NULL,
    actor        UUID,
    action       TEXT   NOT NULL,
    subject_kind TEXT   NOT NULL,
    subject_id   TEXT   NOT NULL,
    account_id   UUID,
    offering_id  UUID,
    before       TEXT,
    after        TEXT
);
CREATE INDEX audit_events_by_account ON audit_events (account_id, seq);
CREATE INDEX audit_events_by_offering ON audit_events (offering_id, seq);
CREATE INDEX audit_events_by_actor ON audit_events (actor, seq);
CREATE INDEX audit_events_by_action ON audit_events (action, seq);
CREATE INDEX audit_events_by_subject_kind ON audit_events (subject_kind, seq);

CREATE TABLE sessions (
    hash       BYTEA  NOT NULL PRIMARY KEY,
    user_id    UUID   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE api_tokens (
    id           UUID   NOT NULL PRIMARY KEY,
    user_id      UUID   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT   NOT NULL,
    hash         BYTEA  NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_tokens_by_user ON api_tokens (user_id, created_at);
