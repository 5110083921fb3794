-- Email: where each polled mailbox got to (its UIDVALIDITY and the last
-- UID committed), and who forwarded a complaint that an agency passed on.
CREATE TABLE mail_checkpoints (
    channel_name  TEXT NOT NULL,
    mailbox       TEXT NOT NULL,
    uid_validity  BIGINT NOT NULL,
    last_uid      BIGINT NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (channel_name, mailbox)
);
ALTER TABLE complaints ADD COLUMN forwarded_by JSONB;
