-- The rehearsal clock's offset (microseconds ahead of the real clock), kept in the
-- database so a restarted server resumes the rehearsal where it was. (One server per
-- SQLite file: PostgreSQL's migration also tells the other servers when it moves.)
CREATE TABLE test_clock (
    id            INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    offset_micros INTEGER NOT NULL CHECK (offset_micros >= 0)
);
INSERT INTO test_clock (id, offset_micros) VALUES (1, 0);
