-- Guided conversations (the Telegram bot): where each citizen is in the
-- dialogue, kept here so it survives restarts and is shared by instances.
CREATE TABLE dialogues (
    channel_name     TEXT NOT NULL,
    handle           TEXT NOT NULL,
    step             TEXT NOT NULL,
    complaint_id     TEXT REFERENCES complaints (id),
    language         TEXT NOT NULL,
    chosen_language  TEXT,
    updated_at       TEXT NOT NULL,
    PRIMARY KEY (channel_name, handle)
);

-- Named leases: a poller (a Telegram bot in polling mode, an IMAP mailbox)
-- runs on the one instance that holds its lease, and another takes over
-- once a lease expires unrenewed.
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);

-- Replies that belong to no complaint (the answer to /start or /status),
-- and how a reply is shown: buttons, an edit of an earlier message, the
-- button tap it answers. SQLite cannot drop a NOT NULL, so the table is
-- rebuilt.
CREATE TABLE outbound_messages_new (
    id                   TEXT PRIMARY KEY,
    complaint_id         TEXT REFERENCES complaints (id),
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
    sent_at              TEXT,
    presentation         TEXT
);
INSERT INTO outbound_messages_new (id, complaint_id, channel_name, recipient, kind, body,
    tracking_code, state, attempts, next_attempt_at, leased_until, provider_message_id,
    last_error, created_at, sent_at)
SELECT id, complaint_id, channel_name, recipient, kind, body, tracking_code, state, attempts,
    next_attempt_at, leased_until, provider_message_id, last_error, created_at, sent_at
FROM outbound_messages;
DROP TABLE outbound_messages;
ALTER TABLE outbound_messages_new RENAME TO outbound_messages;
CREATE INDEX outbound_messages_due ON outbound_messages (next_attempt_at) WHERE state = 'pending';
CREATE INDEX outbound_messages_recipient ON outbound_messages (channel_name, recipient, created_at);
CREATE UNIQUE INDEX outbound_messages_one_ack ON outbound_messages (complaint_id) WHERE kind = 'acknowledgement';
CREATE INDEX outbound_messages_provider_id ON outbound_messages (channel_name, provider_message_id)
    WHERE provider_message_id IS NOT NULL;
