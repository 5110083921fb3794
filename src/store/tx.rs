//! The storage operations both backends provide.
//!
//! [`Tx`] is implemented once, for every connection that can run
//! statements ([`Exec`]), so the SQL is written once. The few statements
//! whose dialects differ branch on [`Exec::POSTGRES`].

use std::future::Future;

use chrono::{DateTime, Utc};

use super::Result;
use super::exec::{Exec, FromRecord, Param, Record, params};
use super::rows::*;

/// Storage operations on one connection, usually inside a transaction.
pub trait Tx: Send {
    /// Claims many inbound messages in one statement. Returns the ids of the
    /// rows inserted; a row whose (channel instance, provider id) was
    /// already stored, or repeats an earlier row of `rows`, is left out.
    fn claim_many(
        &mut self,
        rows: &[NewInbound],
    ) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// Claims stored messages not yet processed, oldest first. On
    /// PostgreSQL the rows stay locked (`SKIP LOCKED`) until the transaction
    /// ends, so several processors share the work. On SQLite they are read
    /// in arrival order from the mark [`Tx::pending_processed`] moves.
    fn pending_inbound(
        &mut self,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<InboundRow>>> + Send;
    /// Records, in the transaction that processed them, that the messages
    /// [`Tx::pending_inbound`] returned are done: through the message
    /// `through` when it returned a full batch, or all of them (`None`)
    /// when it returned fewer. SQLite's next look starts after the mark;
    /// PostgreSQL needs no mark.
    fn pending_processed(
        &mut self,
        through: Option<&str>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Marks a message processed with an error, so it does not block the
    /// queue; `salur reprocess` can take it up again.
    fn set_inbound_failed(
        &mut self,
        message_id: &str,
        error: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// For replayed (channel instance, provider id) pairs: the stored
    /// message id, its complaint, and the code the citizen was given (the
    /// first complaint's for a duplicate).
    fn replay_info(
        &mut self,
        keys: &[(&str, &str)],
    ) -> impl Future<Output = Result<Vec<ReplayInfo>>> + Send;
    /// One inbound message, without its payload.
    fn inbound_view(
        &mut self,
        id: &str,
    ) -> impl Future<Output = Result<Option<InboundView>>> + Send;
    /// The stored message id and complaint for a provider id.
    fn find_inbound(
        &mut self,
        channel_name: &str,
        provider_message_id: &str,
    ) -> impl Future<Output = Result<Option<(String, Option<String>)>>> + Send;
    /// Links a message to its complaint and marks it processed.
    fn set_inbound_complaint(
        &mut self,
        message_id: &str,
        complaint_id: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// The messages a complaint was built from, oldest first.
    fn inbound_for_complaint(
        &mut self,
        complaint_id: &str,
    ) -> impl Future<Output = Result<Vec<InboundRow>>> + Send;
    /// One stored message, with its payload.
    fn inbound(&mut self, id: &str) -> impl Future<Output = Result<Option<InboundRow>>> + Send;
    /// Marks a message processed without linking it to a complaint (a
    /// piece of a long message waiting for the others).
    fn set_inbound_processed(
        &mut self,
        message_id: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Records a piece of a long message; `false` when its group holds that
    /// position already (the provider sent the piece twice).
    fn insert_part(&mut self, p: &NewPart) -> impl Future<Output = Result<bool>> + Send;
    /// The pieces of one group, in order.
    fn group_parts(&mut self, g: &PartGroup) -> impl Future<Output = Result<Vec<PartRow>>> + Send;
    /// Records the complaint a group was joined into.
    fn set_group_complaint(
        &mut self,
        g: &PartGroup,
        complaint_id: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Groups still waiting whose first piece was taken in before `before`.
    fn overdue_groups(
        &mut self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<PartGroup>>> + Send;

    /// The reporter owning an identity handle.
    fn identity_reporter(
        &mut self,
        handle: &str,
    ) -> impl Future<Output = Result<Option<String>>> + Send;
    /// A reporter with this E.164 phone.
    fn reporter_by_phone(
        &mut self,
        phone: &str,
    ) -> impl Future<Output = Result<Option<String>>> + Send;
    /// A reporter with this email.
    fn reporter_by_email(
        &mut self,
        email: &str,
    ) -> impl Future<Output = Result<Option<String>>> + Send;
    /// Inserts a reporter.
    fn insert_reporter(
        &mut self,
        r: &ReporterRow,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Fills in the name, phone and email a reporter lacks.
    fn enrich_reporter(
        &mut self,
        r: &ReporterRow,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Deletes a reporter that lost an insert race.
    fn delete_reporter(&mut self, id: &str) -> impl Future<Output = Result<()>> + Send;
    /// Loads a reporter.
    fn reporter(&mut self, id: &str) -> impl Future<Output = Result<Option<ReporterRow>>> + Send;
    /// Inserts an identity; `false` when the handle exists already.
    fn insert_identity(
        &mut self,
        handle: &str,
        reporter_id: &str,
        channel: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Inserts a complaint; `false` when its open key or tracking code exists.
    fn insert_complaint(&mut self, c: &NewComplaint) -> impl Future<Output = Result<bool>> + Send;
    /// The open complaint for an assembly key.
    fn open_complaint(
        &mut self,
        open_key: &str,
    ) -> impl Future<Output = Result<Option<ComplaintRow>>> + Send;
    /// A complaint by id.
    fn complaint(&mut self, id: &str) -> impl Future<Output = Result<Option<ComplaintRow>>> + Send;
    /// The complaint one of our replies belongs to, named by the provider's
    /// id for that reply (a WhatsApp `context.id`).
    fn complaint_by_reply_id(
        &mut self,
        channel_name: &str,
        provider_message_id: &str,
    ) -> impl Future<Output = Result<Option<ComplaintRow>>> + Send;
    /// A complaint by tracking code.
    fn complaint_by_tracking_code(
        &mut self,
        code: &str,
    ) -> impl Future<Output = Result<Option<ComplaintRow>>> + Send;
    /// Replaces the content of a complaint after a fragment joined or a
    /// re-normalisation.
    fn update_complaint_content(
        &mut self,
        c: &ComplaintRow,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Sets a complaint's status; `false` when it had that status already.
    fn set_complaint_status(
        &mut self,
        id: &str,
        status: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Open complaints whose last fragment is older than `before`.
    fn due_open_complaints(
        &mut self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// Seals a complaint: no fragment joins it after this.
    fn seal_complaint(
        &mut self,
        id: &str,
        status: &str,
        duplicate_of: Option<&str>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// The earliest sealed, non-duplicate complaint with the same content key
    /// since `since`, from the same reporter or a reporter sharing the phone
    /// or email.
    fn same_content(
        &mut self,
        content_key: &str,
        since: DateTime<Utc>,
        exclude_id: &str,
        reporter: &ReporterRow,
    ) -> impl Future<Output = Result<Option<(String, String)>>> + Send;
    /// A page of complaints, newest first.
    fn list_complaints(
        &mut self,
        f: &ComplaintFilter,
    ) -> impl Future<Output = Result<Vec<ComplaintRow>>> + Send;
    /// Complaint ids after `after_id`, oldest first (for re-processing).
    fn complaint_ids_after(
        &mut self,
        after_id: &str,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// Counts complaints (for tests and the benchmark).
    fn count_complaints(&mut self) -> impl Future<Output = Result<i64>> + Send;
    /// Every provider message id stored for a channel instance (for crash
    /// tests and the benchmark's loss check).
    fn provider_ids(
        &mut self,
        channel_name: &str,
    ) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// Counts the rows of one of the intake tables (for tests, the benchmark
    /// and operators). Unknown table names count as zero.
    fn count_rows(&mut self, table: &'static str) -> impl Future<Output = Result<i64>> + Send;

    /// Inserts attachment metadata.
    fn insert_attachment(
        &mut self,
        a: &NewAttachment,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Attachments of one complaint.
    fn attachments(
        &mut self,
        complaint_id: &str,
    ) -> impl Future<Output = Result<Vec<AttachmentRow>>> + Send;

    /// Inserts an outbox event.
    fn insert_event(
        &mut self,
        id: &str,
        event_type: &str,
        complaint_id: &str,
        agency: Option<&str>,
        occurred_at: DateTime<Utc>,
        payload: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Inserts a pending delivery of an event to a sink.
    fn insert_delivery(
        &mut self,
        id: &str,
        event_id: &str,
        sink: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Claims due deliveries until `lease_until`.
    fn claim_deliveries(
        &mut self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<ClaimedDelivery>>> + Send;
    /// Marks a delivery done.
    fn delivery_done(
        &mut self,
        id: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Records a failed attempt: retry at `next`, or dead when `next` is `None`.
    fn delivery_failed(
        &mut self,
        id: &str,
        attempts: i32,
        next: Option<DateTime<Utc>>,
        error: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Makes dead deliveries (all, or of one event, or of one sink) pending again.
    fn replay_deliveries(
        &mut self,
        event_id: Option<&str>,
        sink: Option<&str>,
        include_delivered: bool,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64>> + Send;
    /// A page of deliveries, newest first.
    fn list_deliveries(
        &mut self,
        state: Option<&str>,
        before_id: Option<&str>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<DeliveryRow>>> + Send;
    /// Counts of deliveries by state, and the oldest pending creation time.
    fn outbox_stats(&mut self) -> impl Future<Output = Result<OutboxStats>> + Send;

    /// Queues a reply; `false` when the complaint has its acknowledgement
    /// already.
    fn insert_outbound(&mut self, o: &NewOutbound) -> impl Future<Output = Result<bool>> + Send;
    /// How many replies (not counting suppressed ones) went to `recipient`
    /// on `channel_name` since `since`.
    fn recent_replies(
        &mut self,
        channel_name: &str,
        recipient: &str,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<i64>> + Send;
    /// Claims due replies with a lease, like [`Tx::claim_deliveries`].
    fn claim_outbound(
        &mut self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<OutboundRow>>> + Send;
    /// Records a reply as sent.
    fn outbound_sent(
        &mut self,
        id: &str,
        provider_message_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Records a failed attempt: retried at `next`, or dead when `None`.
    fn outbound_failed(
        &mut self,
        id: &str,
        attempts: i32,
        next: Option<DateTime<Utc>>,
        error: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Records what the provider reported of a sent reply, named by the
    /// provider's id: `delivered`, `read`, `failed` with its error, or `bounced`
    /// (an email delivery report) with the reason. A
    /// state never moves back (a late `delivered` after `read` changes
    /// nothing). Returns whether a reply changed.
    fn outbound_status(
        &mut self,
        channel_name: &str,
        provider_message_id: &str,
        state: &str,
        error: Option<&str>,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Queues a sent reply again, named by the provider's id, with the
    /// provider's `error` as its last one (the reply window had closed).
    /// Returns whether a reply was queued.
    fn outbound_requeue(
        &mut self,
        channel_name: &str,
        provider_message_id: &str,
        error: &str,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// The replies queued for a complaint, oldest first.
    fn outbound_for_complaint(
        &mut self,
        complaint_id: &str,
    ) -> impl Future<Output = Result<Vec<OutboundRow>>> + Send;

    /// Claims attachments of Meta channels due for download, with a lease.
    fn claim_attachments(
        &mut self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<AttachmentJob>>> + Send;
    /// Records a downloaded file: its content address, size and type.
    fn attachment_stored(
        &mut self,
        id: &str,
        sha256: &str,
        size: i64,
        mime: Option<&str>,
        path: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Records a failed download: retried at `next`, or `missing` when
    /// `None`.
    fn attachment_failed(
        &mut self,
        id: &str,
        attempts: i32,
        next: Option<DateTime<Utc>>,
        error: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Queues a missing attachment's download again. Returns whether it
    /// was missing.
    fn retry_attachment(&mut self, id: &str) -> impl Future<Output = Result<bool>> + Send;

    /// Stores input that failed to parse or process.
    fn insert_quarantine(&mut self, q: &NewQuarantine) -> impl Future<Output = Result<()>> + Send;
    /// Counts unresolved quarantine entries.
    fn count_quarantine(&mut self) -> impl Future<Output = Result<i64>> + Send;

    /// The stored messages intake quarantined (kept with their error, no
    /// complaint), oldest first.
    fn quarantined_inbound(&mut self) -> impl Future<Output = Result<Vec<InboundRow>>> + Send;
    /// Takes a quarantined message into intake again, as `message` (read
    /// anew from its raw payload), and resolves its quarantine entries.
    fn retake_inbound(
        &mut self,
        id: &str,
        message: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// A mailbox's checkpoint: its UIDVALIDITY and the last UID stored.
    fn mail_checkpoint(
        &mut self,
        channel_name: &str,
        mailbox: &str,
    ) -> impl Future<Output = Result<Option<(i64, i64)>>> + Send;
    /// Moves a mailbox's checkpoint on, after the mail up to `last_uid` is
    /// committed.
    fn save_mail_checkpoint(
        &mut self,
        channel_name: &str,
        mailbox: &str,
        uid_validity: i64,
        last_uid: i64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Where a citizen is in a guided conversation.
    fn dialogue(
        &mut self,
        channel_name: &str,
        handle: &str,
    ) -> impl Future<Output = Result<Option<DialogueRow>>> + Send;
    /// Stores where a citizen is in a guided conversation.
    fn put_dialogue(
        &mut self,
        d: &DialogueRow,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Takes or renews the lease `name` for `holder` until `until`, when it
    /// is free, expired or already `holder`'s. Returns whether `holder`
    /// holds it now.
    fn take_lease(
        &mut self,
        name: &str,
        holder: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Gives the lease `name` up, when `holder` holds it.
    fn drop_lease(&mut self, name: &str, holder: &str) -> impl Future<Output = Result<()>> + Send;
    /// Sets a complaint's privacy choices.
    fn set_complaint_privacy(
        &mut self,
        id: &str,
        anonymous: bool,
        confidential: bool,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Closes an open complaint its citizen withdrew before sending: it is
    /// kept, with its messages, but never sealed nor published.
    fn withdraw_complaint(
        &mut self,
        id: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool>> + Send;
}

/// What a replayed message was stored as.
#[derive(Debug, Clone)]
pub struct ReplayInfo {
    /// Channel instance.
    pub channel_name: String,
    /// Provider's id.
    pub provider_message_id: String,
    /// Our message id.
    pub id: String,
    /// Its complaint, once processed.
    pub complaint_id: Option<String>,
    /// The code the citizen was given.
    pub tracking_code: Option<String>,
}

/// Outbox figures for metrics and readiness.
#[derive(Debug, Clone, Default)]
pub struct OutboxStats {
    /// Deliveries waiting.
    pub pending: i64,
    /// Deliveries given up.
    pub dead: i64,
    /// Creation time of the oldest waiting delivery.
    pub oldest_pending: Option<DateTime<Utc>>,
}

impl FromRecord for ReplayInfo {
    fn from_record<R: Record>(r: &R) -> Result<Self> {
        Ok(Self {
            channel_name: r.get(0)?,
            provider_message_id: r.get(1)?,
            id: r.get(2)?,
            complaint_id: r.get(3)?,
            tracking_code: r.get(4)?,
        })
    }
}

/// Tables [`Tx::count_rows`] may count.
const COUNTABLE: &[&str] = &[
    "inbound_messages",
    "complaints",
    "complaint_messages",
    "reporters",
    "reporter_identities",
    "attachments",
    "outbox_events",
    "deliveries",
    "quarantine",
    "message_parts",
    "outbound_messages",
];

/// `SELECT <the columns of ComplaintRow> FROM complaints <tail>`.
macro_rules! complaint_select {
    ($tail:literal) => {
        concat!(
            "SELECT id, tracking_code, status, classification, title, body, content_key, \
             category, agency, location, occurred_at, received_at, channel, channel_name, \
             reporter_id, reporter, anonymous, confidential, duplicate_of, related, message_ids, \
             open_key, last_message_at, sealed_at, updated_at, forwarded_by FROM complaints ",
            $tail
        )
    };
}

const INBOUND_COLUMNS: &str = "(id, channel, channel_name, provider_message_id, reporter_handle, \
     received_at, stored_at, raw_content_type, raw_payload, message)";

/// Appends `($k, $k+1, …)` groups of `width` placeholders, `rows` times,
/// numbered from `first` (a batch writes thousands of placeholders, so the
/// numbers skip the general formatter).
fn push_groups(sql: &mut String, rows: usize, width: usize, first: usize) {
    let mut digits = itoa::Buffer::new();
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..width {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(digits.format(first + r * width + c));
        }
        sql.push(')');
    }
}

/// A multi-row `INSERT INTO inbound_messages … VALUES …` and its
/// parameters, without the conflict clause.
fn inbound_insert(rows: &[NewInbound], stored_at: DateTime<Utc>) -> (String, Vec<Param<'_>>) {
    let mut sql = format!("INSERT INTO inbound_messages {INBOUND_COLUMNS} VALUES ");
    push_groups(&mut sql, rows.len(), 10, 1);
    let mut p = Vec::with_capacity(rows.len() * 10);
    for m in rows {
        p.extend(params![
            &m.id,
            &m.channel,
            &m.channel_name,
            &m.provider_message_id,
            &m.reporter_handle,
            m.received_at,
            stored_at,
            &m.raw_content_type,
            &m.raw_payload,
        ]);
        p.push(Param::Json(Some(std::borrow::Cow::Borrowed(&m.message))));
    }
    (sql, p)
}

async fn first<E: Exec + ?Sized, R: FromRecord>(
    e: &mut E,
    sql: &str,
    p: &[Param<'_>],
) -> Result<Option<R>> {
    Ok(e.fetch_all(sql, p).await?.into_iter().next())
}

async fn scalars<E: Exec + ?Sized, T: super::exec::Column + Send>(
    e: &mut E,
    sql: &str,
    p: &[Param<'_>],
) -> Result<Vec<T>> {
    let rows: Vec<(T,)> = e.fetch_all(sql, p).await?;
    Ok(rows.into_iter().map(|(v,)| v).collect())
}

async fn scalar<E: Exec + ?Sized, T: super::exec::Column + Send>(
    e: &mut E,
    sql: &str,
    p: &[Param<'_>],
) -> Result<Option<T>> {
    Ok(scalars(e, sql, p).await?.into_iter().next())
}

async fn count<E: Exec + ?Sized>(e: &mut E, sql: &str) -> Result<i64> {
    let n: Option<(i64,)> = first(e, sql, &[]).await?;
    Ok(n.map_or(0, |(n,)| n))
}

/// `SELECT <the columns of InboundRow, from alias m> FROM <tail>`.
macro_rules! inbound_select {
    ($tail:literal) => {
        concat!(
            "SELECT m.id, m.channel, m.channel_name, m.provider_message_id, m.raw_content_type, \
             m.raw_payload, m.message, m.complaint_id, m.received_at FROM ",
            $tail
        )
    };
}

/// Records a failed attempt on a row of a leased queue (`deliveries`,
/// `outbound_messages`): `$2` attempts so far, retried at `$3`, or dead when
/// `$3` is NULL, with `$4` as the error.
macro_rules! failed_attempt {
    ($table:literal) => {
        concat!(
            "UPDATE ",
            $table,
            " SET attempts = $2, \
             state = CASE WHEN $3 IS NULL THEN 'dead' ELSE 'pending' END, \
             next_attempt_at = COALESCE($3, next_attempt_at), leased_until = NULL, last_error = $4 \
             WHERE id = $1"
        )
    };
}

/// `head tail`, with PostgreSQL's `FOR UPDATE SKIP LOCKED` between them, so
/// rows one PostgreSQL worker claimed are passed over by the others. SQLite
/// has a single writer and needs no row locks.
macro_rules! skip_locked {
    ($postgres:expr, $head:expr, $tail:literal) => {
        if $postgres {
            concat!($head, " FOR UPDATE SKIP LOCKED", $tail)
        } else {
            concat!($head, $tail)
        }
    };
}

impl<E: Exec> Tx for E {
    async fn claim_many(&mut self, rows: &[NewInbound]) -> Result<Vec<String>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let (mut sql, p) = inbound_insert(rows, Utc::now());
        sql.push_str(" ON CONFLICT (channel_name, provider_message_id) DO NOTHING RETURNING id");
        scalars(self, &sql, &p).await
    }

    async fn pending_inbound(&mut self, limit: i64) -> Result<Vec<InboundRow>> {
        let sql = if Self::POSTGRES {
            skip_locked!(
                true,
                inbound_select!(
                    "inbound_messages m WHERE m.processed_at IS NULL \
                     ORDER BY m.stored_at, m.id LIMIT $1"
                ),
                ""
            )
        } else {
            // SQLite's single writer gives each new row the next rowid, so
            // rowid order is commit order, and nothing at or below the mark
            // is pending. A mark whose row no longer carries the recorded
            // id (rowids renumbered) is not trusted: the scan starts from
            // the first row.
            inbound_select!(
                "inbound_messages m WHERE m.rowid > COALESCE((SELECT p.last_rowid \
                 FROM inbound_progress p JOIN inbound_messages x \
                 ON x.rowid = p.last_rowid AND x.id = p.last_id WHERE p.id = 1), 0) \
                 AND m.processed_at IS NULL ORDER BY m.rowid LIMIT $1"
            )
        };
        self.fetch_all(sql, &params![limit]).await
    }

    async fn pending_processed(&mut self, through: Option<&str>) -> Result<()> {
        /// Moves SQLite's mark to the row `$source` selects (as `r`, `id`),
        /// writing nothing when it is already there.
        macro_rules! move_mark {
            ($source:literal) => {
                concat!(
                    "UPDATE inbound_progress SET last_rowid = m.r, last_id = m.id FROM (",
                    $source,
                    ") AS m WHERE inbound_progress.id = 1 \
                     AND (inbound_progress.last_rowid <> m.r OR inbound_progress.last_id IS NOT m.id)"
                )
            };
        }
        if Self::POSTGRES {
            return Ok(());
        }
        let moved = match through {
            Some(id) => {
                self.execute(
                    move_mark!("SELECT rowid AS r, id FROM inbound_messages WHERE id = $1"),
                    &params![id],
                )
                .await
            }
            None => {
                self.execute(
                    move_mark!(
                        "SELECT rowid AS r, id FROM inbound_messages ORDER BY rowid DESC LIMIT 1"
                    ),
                    &[],
                )
                .await
            }
        };
        moved.map(drop)
    }

    async fn set_inbound_failed(
        &mut self,
        message_id: &str,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.execute(
            "UPDATE inbound_messages SET error = $2, processed_at = $3 WHERE id = $1",
            &params![message_id, error, now],
        )
        .await?;
        Ok(())
    }

    async fn replay_info(&mut self, keys: &[(&str, &str)]) -> Result<Vec<ReplayInfo>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = String::from(
            "SELECT m.channel_name, m.provider_message_id, m.id, m.complaint_id, \
             COALESCE(f.tracking_code, c.tracking_code) AS tracking_code \
             FROM inbound_messages m \
             LEFT JOIN complaints c ON c.id = m.complaint_id \
             LEFT JOIN complaints f ON f.id = c.duplicate_of \
             WHERE (m.channel_name, m.provider_message_id) IN (",
        );
        push_groups(&mut sql, keys.len(), 2, 1);
        sql.push(')');
        let p: Vec<Param<'_>> = keys
            .iter()
            .flat_map(|(channel, id)| params![*channel, *id])
            .collect();
        self.fetch_all(&sql, &p).await
    }

    async fn inbound_view(&mut self, id: &str) -> Result<Option<InboundView>> {
        first(
            self,
            "SELECT id, channel, channel_name, provider_message_id, received_at, stored_at, \
             complaint_id, processed_at, error FROM inbound_messages WHERE id = $1",
            &params![id],
        )
        .await
    }

    async fn find_inbound(
        &mut self,
        channel_name: &str,
        provider_message_id: &str,
    ) -> Result<Option<(String, Option<String>)>> {
        first(
            self,
            "SELECT id, complaint_id FROM inbound_messages \
             WHERE channel_name = $1 AND provider_message_id = $2",
            &params![channel_name, provider_message_id],
        )
        .await
    }

    async fn set_inbound_complaint(
        &mut self,
        message_id: &str,
        complaint_id: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let p = params![message_id, complaint_id, now];
        self.execute(
            "UPDATE inbound_messages SET complaint_id = $2, processed_at = $3, error = NULL \
             WHERE id = $1",
            &p,
        )
        .await?;
        self.execute(
            "INSERT INTO complaint_messages (complaint_id, message_id, linked_at) \
             VALUES ($2, $1, $3) ON CONFLICT DO NOTHING",
            &p,
        )
        .await?;
        Ok(())
    }

    async fn inbound_for_complaint(&mut self, complaint_id: &str) -> Result<Vec<InboundRow>> {
        self.fetch_all(
            inbound_select!(
                "complaint_messages l JOIN inbound_messages m ON m.id = l.message_id \
                 WHERE l.complaint_id = $1 ORDER BY m.received_at, m.id"
            ),
            &params![complaint_id],
        )
        .await
    }

    async fn inbound(&mut self, id: &str) -> Result<Option<InboundRow>> {
        first(
            self,
            inbound_select!("inbound_messages m WHERE m.id = $1"),
            &params![id],
        )
        .await
    }

    async fn set_inbound_processed(&mut self, message_id: &str, now: DateTime<Utc>) -> Result<()> {
        self.execute(
            "UPDATE inbound_messages SET processed_at = $2, error = NULL WHERE id = $1",
            &params![message_id, now],
        )
        .await?;
        Ok(())
    }

    async fn insert_part(&mut self, p: &NewPart) -> Result<bool> {
        let n = self
            .execute(
                "INSERT INTO message_parts (channel_name, reporter_handle, group_ref, part_index, \
                 part_total, message_id, taken_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT DO NOTHING",
                &params![
                    &p.group.channel_name,
                    &p.group.reporter_handle,
                    &p.group.group_ref,
                    p.index,
                    p.total,
                    &p.message_id,
                    p.taken_at
                ],
            )
            .await?;
        Ok(n > 0)
    }

    async fn group_parts(&mut self, g: &PartGroup) -> Result<Vec<PartRow>> {
        self.fetch_all(
            "SELECT part_index, part_total, message_id, complaint_id FROM message_parts \
             WHERE channel_name = $1 AND reporter_handle = $2 AND group_ref = $3 \
             ORDER BY part_index",
            &params![&g.channel_name, &g.reporter_handle, &g.group_ref],
        )
        .await
    }

    async fn set_group_complaint(&mut self, g: &PartGroup, complaint_id: &str) -> Result<()> {
        self.execute(
            "UPDATE message_parts SET complaint_id = $4 \
             WHERE channel_name = $1 AND reporter_handle = $2 AND group_ref = $3",
            &params![
                &g.channel_name,
                &g.reporter_handle,
                &g.group_ref,
                complaint_id
            ],
        )
        .await?;
        Ok(())
    }

    async fn overdue_groups(
        &mut self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<PartGroup>> {
        self.fetch_all(
            "SELECT channel_name, reporter_handle, group_ref FROM message_parts \
             WHERE complaint_id IS NULL GROUP BY channel_name, reporter_handle, group_ref \
             HAVING MIN(taken_at) < $1 ORDER BY MIN(taken_at) LIMIT $2",
            &params![before, limit],
        )
        .await
    }

    async fn identity_reporter(&mut self, handle: &str) -> Result<Option<String>> {
        scalar(
            self,
            "SELECT reporter_id FROM reporter_identities WHERE handle = $1",
            &params![handle],
        )
        .await
    }

    async fn reporter_by_phone(&mut self, phone: &str) -> Result<Option<String>> {
        scalar(
            self,
            "SELECT id FROM reporters WHERE phone = $1 ORDER BY id LIMIT 1",
            &params![phone],
        )
        .await
    }

    async fn reporter_by_email(&mut self, email: &str) -> Result<Option<String>> {
        scalar(
            self,
            "SELECT id FROM reporters WHERE email = $1 ORDER BY id LIMIT 1",
            &params![email],
        )
        .await
    }

    async fn insert_reporter(&mut self, r: &ReporterRow, now: DateTime<Utc>) -> Result<()> {
        self.execute(
            "INSERT INTO reporters (id, name, phone, email, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5)",
            &params![&r.id, &r.name, &r.phone, &r.email, now],
        )
        .await?;
        Ok(())
    }

    async fn enrich_reporter(&mut self, r: &ReporterRow, now: DateTime<Utc>) -> Result<()> {
        self.execute(
            "UPDATE reporters SET name = COALESCE(name, $2), phone = COALESCE(phone, $3), \
             email = COALESCE(email, $4), updated_at = $5 \
             WHERE id = $1 AND ((name IS NULL AND $2 IS NOT NULL) \
               OR (phone IS NULL AND $3 IS NOT NULL) OR (email IS NULL AND $4 IS NOT NULL))",
            &params![&r.id, &r.name, &r.phone, &r.email, now],
        )
        .await?;
        Ok(())
    }

    async fn delete_reporter(&mut self, id: &str) -> Result<()> {
        self.execute("DELETE FROM reporters WHERE id = $1", &params![id])
            .await?;
        Ok(())
    }

    async fn reporter(&mut self, id: &str) -> Result<Option<ReporterRow>> {
        first(
            self,
            "SELECT id, name, phone, email FROM reporters WHERE id = $1",
            &params![id],
        )
        .await
    }

    async fn insert_identity(
        &mut self,
        handle: &str,
        reporter_id: &str,
        channel: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let n = self
            .execute(
                "INSERT INTO reporter_identities (handle, reporter_id, channel, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (handle) DO NOTHING",
                &params![handle, reporter_id, channel, now],
            )
            .await?;
        Ok(n == 1)
    }

    async fn insert_complaint(&mut self, c: &NewComplaint) -> Result<bool> {
        let location = match &c.location {
            Some(l) => Param::json(l)?,
            None => Param::Json(None),
        };
        let p = [
            Param::from(&c.id),
            Param::from(&c.tracking_code),
            Param::from(&c.status),
            Param::from(&c.classification),
            Param::from(&c.title),
            Param::from(&c.body),
            Param::from(&c.content_key),
            Param::from(&c.category),
            Param::from(&c.agency),
            location,
            Param::from(c.occurred_at),
            Param::from(c.received_at),
            Param::from(&c.channel),
            Param::from(&c.channel_name),
            Param::from(&c.reporter_id),
            Param::json(&c.reporter)?,
            Param::from(c.anonymous),
            Param::from(c.confidential),
            Param::from(&c.duplicate_of),
            Param::json(&c.message_ids)?,
            Param::from(&c.open_key),
            Param::from(c.last_message_at),
            Param::from(c.sealed_at),
            Param::from(c.now),
            match &c.forwarded_by {
                Some(f) => Param::json(f)?,
                None => Param::Json(None),
            },
        ];
        let n = self
            .execute(
                "INSERT INTO complaints (id, tracking_code, status, classification, title, body, \
                 content_key, category, agency, location, occurred_at, received_at, channel, \
                 channel_name, reporter_id, reporter, anonymous, confidential, duplicate_of, \
                 message_ids, open_key, last_message_at, sealed_at, created_at, updated_at, \
                 forwarded_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
                 $17, $18, $19, $20, $21, $22, $23, $24, $24, $25) ON CONFLICT DO NOTHING",
                &p,
            )
            .await?;
        Ok(n == 1)
    }

    async fn open_complaint(&mut self, open_key: &str) -> Result<Option<ComplaintRow>> {
        first(
            self,
            complaint_select!("WHERE open_key = $1"),
            &params![open_key],
        )
        .await
    }

    async fn complaint(&mut self, id: &str) -> Result<Option<ComplaintRow>> {
        first(self, complaint_select!("WHERE id = $1"), &params![id]).await
    }

    async fn complaint_by_reply_id(
        &mut self,
        channel_name: &str,
        provider_message_id: &str,
    ) -> Result<Option<ComplaintRow>> {
        first(
            self,
            complaint_select!(
                "WHERE id = (SELECT complaint_id FROM outbound_messages \
                 WHERE channel_name = $1 AND provider_message_id = $2 LIMIT 1)"
            ),
            &params![channel_name, provider_message_id],
        )
        .await
    }

    async fn complaint_by_tracking_code(&mut self, code: &str) -> Result<Option<ComplaintRow>> {
        first(
            self,
            complaint_select!("WHERE tracking_code = $1"),
            &params![code],
        )
        .await
    }

    async fn update_complaint_content(
        &mut self,
        c: &ComplaintRow,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let location = match &c.location {
            Some(l) => Param::json(&l.0)?,
            None => Param::Json(None),
        };
        let p = [
            Param::from(&c.id),
            Param::from(&c.title),
            Param::from(&c.body),
            Param::from(&c.content_key),
            location,
            Param::json(&c.reporter.0)?,
            Param::json(&c.message_ids.0)?,
            Param::from(c.last_message_at),
            Param::from(now),
        ];
        self.execute(
            "UPDATE complaints SET title = $2, body = $3, content_key = $4, location = $5, \
             reporter = $6, message_ids = $7, last_message_at = $8, updated_at = $9 WHERE id = $1",
            &p,
        )
        .await?;
        Ok(())
    }

    async fn due_open_complaints(
        &mut self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<String>> {
        scalars(
            self,
            "SELECT id FROM complaints WHERE open_key IS NOT NULL AND last_message_at < $1 \
             ORDER BY last_message_at LIMIT $2",
            &params![before, limit],
        )
        .await
    }

    async fn set_complaint_status(
        &mut self,
        id: &str,
        status: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let n = self
            .execute(
                "UPDATE complaints SET status = $2, updated_at = $3 WHERE id = $1 AND status <> $2",
                &params![id, status, now],
            )
            .await?;
        Ok(n > 0)
    }

    async fn seal_complaint(
        &mut self,
        id: &str,
        status: &str,
        duplicate_of: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.execute(
            "UPDATE complaints SET open_key = NULL, sealed_at = $2, status = $3, \
             duplicate_of = $4, updated_at = $2 WHERE id = $1",
            &params![id, now, status, duplicate_of],
        )
        .await?;
        Ok(())
    }

    async fn same_content(
        &mut self,
        content_key: &str,
        since: DateTime<Utc>,
        exclude_id: &str,
        reporter: &ReporterRow,
    ) -> Result<Option<(String, String)>> {
        first(
            self,
            "SELECT c.id, c.tracking_code FROM complaints c JOIN reporters r ON r.id = c.reporter_id \
             WHERE c.content_key = $1 AND c.received_at >= $2 AND c.id <> $3 \
               AND c.sealed_at IS NOT NULL AND c.duplicate_of IS NULL \
               AND (c.reporter_id = $4 OR ($5 IS NOT NULL AND r.phone = $5) \
                    OR ($6 IS NOT NULL AND r.email = $6)) \
             ORDER BY c.received_at, c.id LIMIT 1",
            &params![
                content_key,
                since,
                exclude_id,
                &reporter.id,
                &reporter.phone,
                &reporter.email
            ],
        )
        .await
    }

    async fn list_complaints(&mut self, f: &ComplaintFilter) -> Result<Vec<ComplaintRow>> {
        self.fetch_all(
            complaint_select!(
                "WHERE ($1 IS NULL OR status = $1) \
                   AND ($2 IS NULL OR agency = $2 OR ($2 = '_unrouted' AND agency IS NULL)) \
                   AND ($3 IS NULL OR channel_name = $3) \
                   AND ($4 IS NULL OR tracking_code = $4) \
                   AND ($5 IS NULL OR received_at >= $5) \
                   AND ($6 IS NULL OR id < $6) \
                 ORDER BY id DESC LIMIT $7"
            ),
            &params![
                &f.status,
                &f.agency,
                &f.channel_name,
                &f.tracking_code,
                f.since,
                &f.before_id,
                f.limit
            ],
        )
        .await
    }

    async fn complaint_ids_after(&mut self, after_id: &str, limit: i64) -> Result<Vec<String>> {
        scalars(
            self,
            "SELECT id FROM complaints WHERE id > $1 ORDER BY id LIMIT $2",
            &params![after_id, limit],
        )
        .await
    }

    async fn count_complaints(&mut self) -> Result<i64> {
        count(self, "SELECT COUNT(*) FROM complaints").await
    }

    async fn provider_ids(&mut self, channel_name: &str) -> Result<Vec<String>> {
        scalars(
            self,
            "SELECT provider_message_id FROM inbound_messages WHERE channel_name = $1",
            &params![channel_name],
        )
        .await
    }

    async fn count_rows(&mut self, table: &'static str) -> Result<i64> {
        if !COUNTABLE.contains(&table) {
            return Ok(0);
        }
        count(self, &format!("SELECT COUNT(*) FROM {table}")).await
    }

    async fn insert_attachment(&mut self, a: &NewAttachment, now: DateTime<Utc>) -> Result<()> {
        self.execute(
            "INSERT INTO attachments (id, complaint_id, message_id, provider_ref, mime, size, \
             sha256, filename, caption, state, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10)",
            &params![
                &a.id,
                &a.complaint_id,
                &a.message_id,
                &a.provider_ref,
                &a.mime,
                a.size,
                &a.sha256,
                &a.filename,
                &a.caption,
                now
            ],
        )
        .await?;
        Ok(())
    }

    async fn attachments(&mut self, complaint_id: &str) -> Result<Vec<AttachmentRow>> {
        self.fetch_all(
            "SELECT complaint_id, id, mime, size, sha256, filename, state FROM attachments \
             WHERE complaint_id = $1 ORDER BY id",
            &params![complaint_id],
        )
        .await
    }

    async fn insert_event(
        &mut self,
        id: &str,
        event_type: &str,
        complaint_id: &str,
        agency: Option<&str>,
        occurred_at: DateTime<Utc>,
        payload: &str,
    ) -> Result<()> {
        self.execute(
            "INSERT INTO outbox_events (id, event_type, complaint_id, agency, occurred_at, payload) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &params![id, event_type, complaint_id, agency, occurred_at, payload],
        )
        .await?;
        Ok(())
    }

    async fn insert_delivery(
        &mut self,
        id: &str,
        event_id: &str,
        sink: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.execute(
            "INSERT INTO deliveries (id, event_id, sink, state, attempts, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, 'pending', 0, $4, $4) ON CONFLICT (event_id, sink) DO NOTHING",
            &params![id, event_id, sink, now],
        )
        .await?;
        Ok(())
    }

    async fn claim_deliveries(
        &mut self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<ClaimedDelivery>> {
        let sql = skip_locked!(
            Self::POSTGRES,
            "UPDATE deliveries SET leased_until = $2 WHERE id IN (SELECT id FROM deliveries \
             WHERE state = 'pending' AND next_attempt_at <= $1 AND (leased_until IS NULL OR leased_until < $1) \
             ORDER BY next_attempt_at LIMIT $3",
            ") RETURNING id"
        );
        let ids: Vec<String> = scalars(self, sql, &params![now, lease_until, limit]).await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let row: Option<ClaimedDelivery> = first(
                self,
                "SELECT d.id, d.event_id, d.sink, d.attempts, e.event_type, e.agency, \
                 e.occurred_at, e.payload FROM deliveries d JOIN outbox_events e ON e.id = d.event_id \
                 WHERE d.id = $1",
                &params![&id],
            )
            .await?;
            out.extend(row);
        }
        Ok(out)
    }

    async fn delivery_done(&mut self, id: &str, now: DateTime<Utc>) -> Result<()> {
        self.execute(
            "UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, delivered_at = $2, \
             leased_until = NULL, last_error = NULL WHERE id = $1",
            &params![id, now],
        )
        .await?;
        Ok(())
    }

    async fn delivery_failed(
        &mut self,
        id: &str,
        attempts: i32,
        next: Option<DateTime<Utc>>,
        error: &str,
    ) -> Result<()> {
        self.execute(
            failed_attempt!("deliveries"),
            &params![id, attempts, next, error],
        )
        .await?;
        Ok(())
    }

    async fn replay_deliveries(
        &mut self,
        event_id: Option<&str>,
        sink: Option<&str>,
        include_delivered: bool,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        self.execute(
            "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = $1, \
             leased_until = NULL \
             WHERE (state = 'dead' OR ($4 AND state = 'delivered')) \
               AND ($2 IS NULL OR event_id = $2) AND ($3 IS NULL OR sink = $3)",
            &params![now, event_id, sink, include_delivered],
        )
        .await
    }

    async fn list_deliveries(
        &mut self,
        state: Option<&str>,
        before_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>> {
        self.fetch_all(
            "SELECT id, event_id, sink, state, attempts, next_attempt_at, last_error, delivered_at, \
             created_at FROM deliveries WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR id < $2) \
             ORDER BY id DESC LIMIT $3",
            &params![state, before_id, limit],
        )
        .await
    }

    async fn outbox_stats(&mut self) -> Result<OutboxStats> {
        let row: Option<(i64, Option<DateTime<Utc>>)> = first(
            self,
            "SELECT COUNT(*), MIN(created_at) FROM deliveries WHERE state = 'pending'",
            &[],
        )
        .await?;
        let (pending, oldest_pending) = row.unwrap_or((0, None));
        let dead = count(self, "SELECT COUNT(*) FROM deliveries WHERE state = 'dead'").await?;
        Ok(OutboxStats {
            pending,
            dead,
            oldest_pending,
        })
    }

    async fn insert_outbound(&mut self, o: &NewOutbound) -> Result<bool> {
        let n = self
            .execute(
                "INSERT INTO outbound_messages (id, complaint_id, channel_name, recipient, kind, body, \
                 tracking_code, state, attempts, next_attempt_at, created_at, presentation) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $9, $10) ON CONFLICT DO NOTHING",
                &[
                    Param::from(&o.id),
                    Param::from(&o.complaint_id),
                    Param::from(&o.channel_name),
                    Param::from(&o.recipient),
                    Param::from(&o.kind),
                    Param::from(&o.body),
                    Param::from(&o.tracking_code),
                    Param::from(&o.state),
                    Param::from(o.now),
                    Param::Json(o.presentation.as_deref().map(std::borrow::Cow::Borrowed)),
                ],
            )
            .await?;
        Ok(n > 0)
    }

    async fn recent_replies(
        &mut self,
        channel_name: &str,
        recipient: &str,
        since: DateTime<Utc>,
    ) -> Result<i64> {
        let n: Option<i64> = scalar(
            self,
            "SELECT COUNT(*) FROM outbound_messages WHERE channel_name = $1 AND recipient = $2 \
             AND created_at >= $3 AND state <> 'suppressed' AND kind <> 'prompt'",
            &params![channel_name, recipient, since],
        )
        .await?;
        Ok(n.unwrap_or(0))
    }

    async fn claim_outbound(
        &mut self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OutboundRow>> {
        let sql = skip_locked!(
            Self::POSTGRES,
            "UPDATE outbound_messages SET leased_until = $2 WHERE id IN (SELECT id FROM outbound_messages \
             WHERE state = 'pending' AND next_attempt_at <= $1 AND (leased_until IS NULL OR leased_until < $1) \
             ORDER BY next_attempt_at LIMIT $3",
            ") RETURNING id, channel_name, recipient, kind, body, tracking_code, state, attempts, \
             provider_message_id, last_error, \
             (SELECT last_message_at FROM complaints WHERE complaints.id = outbound_messages.complaint_id), \
             presentation, \
             (SELECT provider_message_id FROM inbound_messages \
              WHERE inbound_messages.complaint_id = outbound_messages.complaint_id \
              ORDER BY received_at, id LIMIT 1)"
        );
        self.fetch_all(sql, &params![now, lease_until, limit]).await
    }

    async fn outbound_sent(
        &mut self,
        id: &str,
        provider_message_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.execute(
            "UPDATE outbound_messages SET state = 'sent', attempts = attempts + 1, sent_at = $3, \
             provider_message_id = $2, leased_until = NULL, last_error = NULL WHERE id = $1",
            &params![id, provider_message_id, now],
        )
        .await?;
        Ok(())
    }

    async fn outbound_failed(
        &mut self,
        id: &str,
        attempts: i32,
        next: Option<DateTime<Utc>>,
        error: &str,
    ) -> Result<()> {
        self.execute(
            failed_attempt!("outbound_messages"),
            &params![id, attempts, next, error],
        )
        .await?;
        Ok(())
    }

    async fn outbound_status(
        &mut self,
        channel_name: &str,
        provider_message_id: &str,
        state: &str,
        error: Option<&str>,
    ) -> Result<bool> {
        let changed = self
            .execute(
                "UPDATE outbound_messages SET state = $3, last_error = COALESCE($4, last_error) \
                 WHERE channel_name = $1 AND provider_message_id = $2 \
                 AND (CASE state WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 \
                 WHEN 'failed' THEN 4 WHEN 'bounced' THEN 4 ELSE 9 END) \
                 < (CASE $3 WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 \
                 WHEN 'failed' THEN 4 WHEN 'bounced' THEN 4 ELSE 0 END)",
                &params![channel_name, provider_message_id, state, error],
            )
            .await?;
        Ok(changed > 0)
    }

    async fn outbound_requeue(
        &mut self,
        channel_name: &str,
        provider_message_id: &str,
        error: &str,
    ) -> Result<bool> {
        let changed = self
            .execute(
                "UPDATE outbound_messages SET state = 'pending', last_error = $3, \
                 next_attempt_at = $4, leased_until = NULL \
                 WHERE channel_name = $1 AND provider_message_id = $2 \
                 AND state IN ('sent', 'delivered')",
                &params![channel_name, provider_message_id, error, Utc::now()],
            )
            .await?;
        Ok(changed > 0)
    }

    async fn outbound_for_complaint(&mut self, complaint_id: &str) -> Result<Vec<OutboundRow>> {
        self.fetch_all(
            "SELECT id, channel_name, recipient, kind, body, tracking_code, state, attempts, \
             provider_message_id, last_error, \
             (SELECT last_message_at FROM complaints WHERE complaints.id = outbound_messages.complaint_id), \
             presentation, \
             (SELECT provider_message_id FROM inbound_messages \
              WHERE inbound_messages.complaint_id = outbound_messages.complaint_id \
              ORDER BY received_at, id LIMIT 1) \
             FROM outbound_messages WHERE complaint_id = $1 ORDER BY created_at, id",
            &params![complaint_id],
        )
        .await
    }

    async fn claim_attachments(
        &mut self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<AttachmentJob>> {
        let sql = skip_locked!(
            Self::POSTGRES,
            "UPDATE attachments SET leased_until = $2 WHERE id IN (SELECT id FROM attachments \
             WHERE state = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= $1) \
             AND (leased_until IS NULL OR leased_until < $1) \
             AND message_id IN (SELECT id FROM inbound_messages \
             WHERE channel IN ('whatsapp', 'messenger', 'instagram', 'telegram', 'email')) \
             ORDER BY created_at LIMIT $3",
            ") RETURNING id, provider_ref, sha256, attempts, \
             (SELECT channel_name FROM inbound_messages WHERE inbound_messages.id = attachments.message_id)"
        );
        self.fetch_all(sql, &params![now, lease_until, limit]).await
    }

    async fn attachment_stored(
        &mut self,
        id: &str,
        sha256: &str,
        size: i64,
        mime: Option<&str>,
        path: &str,
    ) -> Result<()> {
        self.execute(
            "UPDATE attachments SET state = 'stored', sha256 = $2, size = $3, \
             mime = COALESCE(mime, $4), stored_path = $5, attempts = attempts + 1, \
             leased_until = NULL, last_error = NULL WHERE id = $1",
            &params![id, sha256, size, mime, path],
        )
        .await?;
        Ok(())
    }

    async fn attachment_failed(
        &mut self,
        id: &str,
        attempts: i32,
        next: Option<DateTime<Utc>>,
        error: &str,
    ) -> Result<()> {
        let state = if next.is_some() { "pending" } else { "missing" };
        self.execute(
            "UPDATE attachments SET state = $2, attempts = $3, next_attempt_at = $4, \
             last_error = $5, leased_until = NULL WHERE id = $1",
            &params![id, state, attempts, next, error],
        )
        .await?;
        Ok(())
    }

    async fn retry_attachment(&mut self, id: &str) -> Result<bool> {
        let changed = self
            .execute(
                "UPDATE attachments SET state = 'pending', attempts = 0, next_attempt_at = NULL, \
                 leased_until = NULL WHERE id = $1 AND state = 'missing'",
                &params![id],
            )
            .await?;
        Ok(changed > 0)
    }

    async fn insert_quarantine(&mut self, q: &NewQuarantine) -> Result<()> {
        self.execute(
            "INSERT INTO quarantine (id, channel_name, source, error, raw_content_type, raw_payload, \
             message_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &params![
                &q.id,
                &q.channel_name,
                &q.source,
                &q.error,
                &q.raw_content_type,
                &q.raw_payload,
                &q.message_id,
                q.now
            ],
        )
        .await?;
        Ok(())
    }

    async fn count_quarantine(&mut self) -> Result<i64> {
        count(
            self,
            "SELECT COUNT(*) FROM quarantine WHERE resolved_at IS NULL",
        )
        .await
    }

    async fn quarantined_inbound(&mut self) -> Result<Vec<InboundRow>> {
        self.fetch_all(
            inbound_select!(
                "inbound_messages m WHERE m.error IS NOT NULL AND m.complaint_id IS NULL \
                 ORDER BY m.stored_at, m.id"
            ),
            &[],
        )
        .await
    }

    async fn retake_inbound(&mut self, id: &str, message: &str, now: DateTime<Utc>) -> Result<()> {
        let p = [
            Param::from(id),
            Param::Json(Some(std::borrow::Cow::Borrowed(message))),
        ];
        self.execute(
            "UPDATE inbound_messages SET message = $2, error = NULL, processed_at = NULL \
             WHERE id = $1",
            &p,
        )
        .await?;
        self.execute(
            "UPDATE quarantine SET resolved_at = $2 WHERE message_id = $1 AND resolved_at IS NULL",
            &params![id, now],
        )
        .await?;
        if !Self::POSTGRES {
            // The row lies below SQLite's pending mark: scan from the start.
            self.execute(
                "UPDATE inbound_progress SET last_rowid = 0, last_id = NULL WHERE id = 1",
                &[],
            )
            .await?;
        }
        Ok(())
    }

    async fn mail_checkpoint(
        &mut self,
        channel_name: &str,
        mailbox: &str,
    ) -> Result<Option<(i64, i64)>> {
        first(
            self,
            "SELECT uid_validity, last_uid FROM mail_checkpoints \
             WHERE channel_name = $1 AND mailbox = $2",
            &params![channel_name, mailbox],
        )
        .await
    }

    async fn save_mail_checkpoint(
        &mut self,
        channel_name: &str,
        mailbox: &str,
        uid_validity: i64,
        last_uid: i64,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.execute(
            "INSERT INTO mail_checkpoints (channel_name, mailbox, uid_validity, last_uid, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (channel_name, mailbox) DO UPDATE SET \
             uid_validity = excluded.uid_validity, last_uid = excluded.last_uid, \
             updated_at = excluded.updated_at",
            &params![channel_name, mailbox, uid_validity, last_uid, now],
        )
        .await?;
        Ok(())
    }

    async fn dialogue(&mut self, channel_name: &str, handle: &str) -> Result<Option<DialogueRow>> {
        first(
            self,
            "SELECT channel_name, handle, step, complaint_id, language, chosen_language \
             FROM dialogues WHERE channel_name = $1 AND handle = $2",
            &params![channel_name, handle],
        )
        .await
    }

    async fn put_dialogue(&mut self, d: &DialogueRow, now: DateTime<Utc>) -> Result<()> {
        self.execute(
            "INSERT INTO dialogues (channel_name, handle, step, complaint_id, language, \
             chosen_language, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (channel_name, handle) DO UPDATE SET step = excluded.step, \
             complaint_id = excluded.complaint_id, language = excluded.language, \
             chosen_language = excluded.chosen_language, updated_at = excluded.updated_at",
            &params![
                &d.channel_name,
                &d.handle,
                &d.step,
                &d.complaint_id,
                &d.language,
                &d.chosen_language,
                now
            ],
        )
        .await?;
        Ok(())
    }

    async fn take_lease(
        &mut self,
        name: &str,
        holder: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let n = self
            .execute(
                "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
                 expires_at = excluded.expires_at \
                 WHERE leases.holder = excluded.holder OR leases.expires_at < $4",
                &params![name, holder, until, now],
            )
            .await?;
        Ok(n > 0)
    }

    async fn drop_lease(&mut self, name: &str, holder: &str) -> Result<()> {
        self.execute(
            "DELETE FROM leases WHERE name = $1 AND holder = $2",
            &params![name, holder],
        )
        .await?;
        Ok(())
    }

    async fn set_complaint_privacy(
        &mut self,
        id: &str,
        anonymous: bool,
        confidential: bool,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.execute(
            "UPDATE complaints SET anonymous = $2, confidential = $3, updated_at = $4 WHERE id = $1",
            &params![id, anonymous, confidential, now],
        )
        .await?;
        Ok(())
    }

    async fn withdraw_complaint(&mut self, id: &str, now: DateTime<Utc>) -> Result<bool> {
        let n = self
            .execute(
                "UPDATE complaints SET open_key = NULL, status = 'closed', updated_at = $2 \
                 WHERE id = $1 AND open_key IS NOT NULL",
                &params![id, now],
            )
            .await?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::push_groups;

    #[test]
    fn placeholder_groups_are_numbered_in_order() {
        let mut sql = String::new();
        push_groups(&mut sql, 2, 3, 1);
        assert_eq!(sql, "($1, $2, $3), ($4, $5, $6)");
        let mut sql = String::new();
        push_groups(&mut sql, 1, 2, 5);
        assert_eq!(sql, "($5, $6)");
        let mut sql = String::new();
        push_groups(&mut sql, 1, 3, 9_999);
        assert_eq!(sql, "($9999, $10000, $10001)");
    }
}
