-- Core intake schema (SQLite). Times are RFC 3339 text in UTC, which sorts
-- in time order; JSON columns are text.

CREATE TABLE reporters (
    id          TEXT PRIMARY KEY,
    name        TEXT,
    phone       TEXT,
    email       TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX reporters_phone ON reporters (phone) WHERE phone IS NOT NULL;
CREATE INDEX reporters_email ON reporters (email) WHERE email IS NOT NULL;

-- One row per identity on a channel: "sms:+62812…", "telegram:123".
CREATE TABLE reporter_identities (
    handle       TEXT PRIMARY KEY,
    reporter_id  TEXT NOT NULL REFERENCES reporters (id),
    channel      TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
CREATE INDEX reporter_identities_reporter ON reporter_identities (reporter_id);

CREATE TABLE complaints (
    id               TEXT PRIMARY KEY,
    tracking_code    TEXT NOT NULL UNIQUE,
    status           TEXT NOT NULL,
    classification   TEXT NOT NULL,
    title            TEXT NOT NULL,
    body             TEXT NOT NULL,
    content_key      TEXT NOT NULL,
    category         TEXT,
    agency           TEXT,
    location         TEXT,
    occurred_at      TEXT,
    received_at      TEXT NOT NULL,
    channel          TEXT NOT NULL,
    channel_name     TEXT NOT NULL,
    reporter_id      TEXT NOT NULL REFERENCES reporters (id),
    reporter         TEXT NOT NULL,
    anonymous        INTEGER NOT NULL DEFAULT 0,
    confidential     INTEGER NOT NULL DEFAULT 0,
    duplicate_of     TEXT REFERENCES complaints (id),
    related          TEXT NOT NULL DEFAULT '[]',
    message_ids      TEXT NOT NULL DEFAULT '[]',
    -- "<reporter id>|<channel name>" while chat fragments may still join;
    -- NULL once sealed. UNIQUE makes "one open complaint per reporter per
    -- channel instance" atomic.
    open_key         TEXT UNIQUE,
    last_message_at  TEXT NOT NULL,
    sealed_at        TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX complaints_content_key ON complaints (content_key, received_at);
CREATE INDEX complaints_reporter ON complaints (reporter_id);
CREATE INDEX complaints_status ON complaints (status, id);
CREATE INDEX complaints_agency ON complaints (agency, id);
CREATE INDEX complaints_open_due ON complaints (last_message_at) WHERE open_key IS NOT NULL;

CREATE TABLE inbound_messages (
    id                   TEXT PRIMARY KEY,
    channel              TEXT NOT NULL,
    channel_name         TEXT NOT NULL,
    provider_message_id  TEXT NOT NULL,
    reporter_handle      TEXT NOT NULL,
    received_at          TEXT NOT NULL,
    stored_at            TEXT NOT NULL,
    raw_content_type     TEXT NOT NULL,
    raw_payload          BLOB NOT NULL,
    message              TEXT NOT NULL,
    complaint_id         TEXT REFERENCES complaints (id),
    processed_at         TEXT,
    error                TEXT,
    UNIQUE (channel_name, provider_message_id)
);
CREATE INDEX inbound_messages_complaint ON inbound_messages (complaint_id);
CREATE INDEX inbound_messages_pending ON inbound_messages (stored_at, id) WHERE processed_at IS NULL;

CREATE TABLE complaint_messages (
    complaint_id  TEXT NOT NULL REFERENCES complaints (id),
    message_id    TEXT NOT NULL REFERENCES inbound_messages (id),
    linked_at     TEXT NOT NULL,
    PRIMARY KEY (complaint_id, message_id)
);

CREATE TABLE attachments (
    id            TEXT PRIMARY KEY,
    complaint_id  TEXT REFERENCES complaints (id),
    message_id    TEXT NOT NULL REFERENCES inbound_messages (id),
    provider_ref  TEXT NOT NULL,
    mime          TEXT,
    size          INTEGER,
    sha256        TEXT,
    filename      TEXT,
    caption       TEXT,
    state         TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX attachments_complaint ON attachments (complaint_id);

CREATE TABLE outbox_events (
    id            TEXT PRIMARY KEY,
    event_type    TEXT NOT NULL,
    complaint_id  TEXT NOT NULL REFERENCES complaints (id),
    agency        TEXT,
    occurred_at   TEXT NOT NULL,
    payload       TEXT NOT NULL
);
CREATE INDEX outbox_events_complaint ON outbox_events (complaint_id);

CREATE TABLE deliveries (
    id               TEXT PRIMARY KEY,
    event_id         TEXT NOT NULL REFERENCES outbox_events (id),
    sink             TEXT NOT NULL,
    state            TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    leased_until     TEXT,
    last_error       TEXT,
    delivered_at     TEXT,
    created_at       TEXT NOT NULL,
    UNIQUE (event_id, sink)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_state ON deliveries (state, id);

CREATE TABLE quarantine (
    id                TEXT PRIMARY KEY,
    channel_name      TEXT NOT NULL,
    source            TEXT NOT NULL,
    error             TEXT NOT NULL,
    raw_content_type  TEXT NOT NULL,
    raw_payload       BLOB NOT NULL,
    message_id        TEXT,
    created_at        TEXT NOT NULL,
    resolved_at       TEXT
);
CREATE INDEX quarantine_open ON quarantine (created_at) WHERE resolved_at IS NULL;
