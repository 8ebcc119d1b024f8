-- A counter every offering write increases in its own transaction. A catalog read sees the
-- counter of its snapshot, so a catalog total computed at generation G stays right for
-- every later read that still sees G, on any server instance: totals are cached by it.
CREATE TABLE catalog_state (
    id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    generation BIGINT  NOT NULL
);
INSERT INTO catalog_state (id, generation) VALUES (1, 0);
