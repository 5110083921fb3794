-- Unprocessed messages are found from a mark, in arrival (rowid) order,
-- instead of through an index: every claim then updates one index fewer.
-- Every message at or below `last_rowid` has been processed; `last_id`
-- names the row the mark points at, so a mark that no longer matches its
-- row (rowids renumbered) is noticed and the scan starts over.
DROP INDEX inbound_messages_pending;
CREATE TABLE inbound_progress (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    last_rowid  INTEGER NOT NULL,
    last_id     TEXT
);
INSERT INTO inbound_progress (id, last_rowid, last_id) VALUES (1, 0, NULL);
