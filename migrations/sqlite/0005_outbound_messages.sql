-- Messages to citizens: the acknowledgement with the tracking code, and
-- later notices. Sent by the replier through the channel the citizen used,
-- retried on the outbox's schedule. A reply held back by the per-number
-- limit is kept as 'suppressed', so what was not sent is visible too.
CREATE TABLE outbound_messages (
    id                   TEXT PRIMARY KEY,
    complaint_id         TEXT NOT NULL REFERENCES complaints (id),
    channel_name         TEXT NOT NULL,
    recipient            TEXT NOT NULL,
    kind                 TEXT NOT NULL,
    body                 TEXT NOT NULL,
    tracking_code        TEXT,
    state                TEXT NOT NULL,
    attempts             INTEGER NOT NULL DEFAULT 0,
    next_attempt_at      TEXT NOT NULL,
    leased_until         TEXT,
    provider_message_id  TEXT,
    last_error           TEXT,
    created_at           TEXT NOT NULL,
    sent_at              TEXT
);
CREATE INDEX outbound_messages_due ON outbound_messages (next_attempt_at) WHERE state = 'pending';
CREATE INDEX outbound_messages_recipient ON outbound_messages (channel_name, recipient, created_at);
-- One acknowledgement per complaint, however often its processing runs.
CREATE UNIQUE INDEX outbound_messages_one_ack ON outbound_messages (complaint_id) WHERE kind = 'acknowledgement';
