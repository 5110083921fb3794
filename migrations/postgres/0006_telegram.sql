-- Guided conversations (the Telegram bot): where each citizen is in the
-- dialogue, kept here so it survives restarts and is shared by instances.
CREATE TABLE dialogues (
    channel_name     TEXT NOT NULL,
    handle           TEXT NOT NULL,
    step             TEXT NOT NULL,
    complaint_id     TEXT REFERENCES complaints (id),
    language         TEXT NOT NULL,
    chosen_language  TEXT,
    updated_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (channel_name, handle)
);

-- Named leases: a poller (a Telegram bot in polling mode, an IMAP mailbox)
-- runs on the one instance that holds its lease, and another takes over
-- once a lease expires unrenewed.
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);

-- Replies that belong to no complaint (the answer to /start or /status),
-- and how a reply is shown: buttons, an edit of an earlier message, the
-- button tap it answers.
ALTER TABLE outbound_messages ALTER COLUMN complaint_id DROP NOT NULL;
ALTER TABLE outbound_messages ADD COLUMN presentation JSONB;
