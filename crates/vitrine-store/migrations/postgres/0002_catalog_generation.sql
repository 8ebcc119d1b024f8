-- A counter every offering write increases in its own transaction. A catalog read sees the
-- counter of its snapshot, so a catalog total computed at generation G stays right for
-- every later read that still sees G, on any server instance: totals are cached by it.
CREATE TABLE catalog_state (
    id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    generation BIGINT  NOT NULL
);
INSERT INTO catalog_state (id, generation) VALUES (1, 0);

-- The words of the document as a stored tsvector: counting matches of a search then reads
-- it instead of splitting every document again (the GIN index moves to it as well).
ALTER TABLE offerings ADD COLUMN search_words tsvector
    GENERATED ALWAYS AS (array_to_tsvector(string_to_array(search_document, ' '))) STORED;
DROP INDEX offerings_search;
CREATE INDEX offerings_search ON offerings USING GIN (search_words);
