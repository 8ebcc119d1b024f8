-- Checked prerequisites: each offering's service broker, and the runs of its checks.
-- Kept column for column identical to the other flavour (see 0001).

-- Where an offering's broker answers. The password is sealed (XChaCha20-Poly1305 with the
-- operator's key, by vitrine-checks) and never read back out through the API.
CREATE TABLE broker_registrations (
    offering_id     BLOB    NOT NULL PRIMARY KEY REFERENCES offerings (id),
    url             TEXT    NOT NULL,
    username        TEXT    NOT NULL,
    password_sealed BLOB    NOT NULL,
    api_version     TEXT    NOT NULL,
    updated_at      INTEGER NOT NULL,
    updated_by      BLOB    NOT NULL REFERENCES users (id)
);

-- Runs of an offering's checks: queued, claimed by one server with a lease (renewed while
-- it runs), finished with the checker's report (JSON) and its verdicts per step (JSON), or
-- interrupted when the lease ran out (the server died mid-run).
CREATE TABLE check_runs (
    id           BLOB    NOT NULL PRIMARY KEY,
    offering_id  BLOB    NOT NULL REFERENCES offerings (id),
    trigger      TEXT    NOT NULL,
    started_by   BLOB    REFERENCES users (id),
    state        TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    started_at   INTEGER,
    finished_at  INTEGER,
    locked_until INTEGER,
    verdicts     TEXT,
    report       TEXT
);
CREATE INDEX check_runs_by_offering ON check_runs (offering_id, created_at);
CREATE INDEX check_runs_by_state ON check_runs (state, created_at);

-- What a run created on the provider's broker and has not removed yet, written before the
-- request that creates it goes out: after a crash, what is here is deleted from the broker.
CREATE TABLE check_resources (
    run_id     BLOB    NOT NULL REFERENCES check_runs (id),
    key        TEXT    NOT NULL,
    resource   TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, key)
);
