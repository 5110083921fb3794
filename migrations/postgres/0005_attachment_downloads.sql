-- Media are downloaded after their message is stored, each on its own
-- schedule: a failed download is retried, then recorded as missing (and can
-- be retried by an admin); the message is never lost.
ALTER TABLE attachments ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE attachments ADD COLUMN next_attempt_at TIMESTAMPTZ;
ALTER TABLE attachments ADD COLUMN leased_until TIMESTAMPTZ;
ALTER TABLE attachments ADD COLUMN last_error TEXT;
ALTER TABLE attachments ADD COLUMN stored_path TEXT;
CREATE INDEX attachments_pending ON attachments (created_at) WHERE state = 'pending';
