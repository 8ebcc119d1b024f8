-- Self-service accounts: email verification, one-time emailed tokens (verification,
-- password reset), sign-in throttling, and outbox emails whose body holds such a token.
-- Kept column for column identical to the SQLite flavour (see 0001).

-- When the user's address was shown to be theirs; NULL: signed up, not confirmed yet.
-- Every user before self-service sign-up was created by an admin, who vouched for the
-- address: they count as verified since their creation.
ALTER TABLE users ADD COLUMN email_verified_at BIGINT;
UPDATE users SET email_verified_at = created_at;

-- Tokens emailed to prove an address. Only the SHA-256 of the secret is kept (as for
-- sessions and API tokens); `purpose` is vitrine_domain::auth::TokenPurpose.
CREATE TABLE one_time_tokens (
    hash       BYTEA   NOT NULL PRIMARY KEY,
    purpose    TEXT    NOT NULL,
    user_id    UUID    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    used_at    BIGINT
);
CREATE INDEX one_time_tokens_by_user ON one_time_tokens (user_id, purpose, created_at);
CREATE INDEX one_time_tokens_by_expiry ON one_time_tokens (expires_at);

-- Sign-in attempts per email address in the current throttling window
-- (vitrine_domain::auth::SignInAttempts): counted before the password is checked, deleted
-- when one succeeds, so what stays are failures. Addresses nobody has are counted too, so
-- that throttling does not tell which addresses exist.
CREATE TABLE sign_in_failures (
    email             TEXT    NOT NULL PRIMARY KEY,
    window_started_at BIGINT  NOT NULL,
    failures          BIGINT  NOT NULL
);
CREATE INDEX sign_in_failures_by_window ON sign_in_failures (window_started_at);

-- An email whose body holds a one-time link: admins reading the outbox see it without its
-- payload, and once sent its payload is dropped, so the link lives in the database no
-- longer than needed to send it.
ALTER TABLE outbox ADD COLUMN holds_secret BOOLEAN NOT NULL DEFAULT FALSE;
