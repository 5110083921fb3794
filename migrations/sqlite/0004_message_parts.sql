-- Pieces of long messages that a provider delivers as separate requests
-- (Vonage concatenated SMS). Each piece is also an inbound message of its
-- own; these rows say which pieces belong together. A group waits until all
-- its pieces are here, or until its first piece was taken in longer ago
-- than the part timeout; it is then joined into one complaint, whose id
-- every row of the group keeps, so a piece arriving later still finds it.
CREATE TABLE message_parts (
    channel_name     TEXT NOT NULL,
    reporter_handle  TEXT NOT NULL,
    group_ref        TEXT NOT NULL,
    part_index       INTEGER NOT NULL,
    part_total       INTEGER NOT NULL,
    message_id       TEXT NOT NULL REFERENCES inbound_messages (id),
    taken_at         TEXT NOT NULL,
    complaint_id     TEXT REFERENCES complaints (id),
    PRIMARY KEY (channel_name, reporter_handle, group_ref, part_index)
);
CREATE INDEX message_parts_waiting ON message_parts (taken_at) WHERE complaint_id IS NULL;
