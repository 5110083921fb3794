//! The storage operations both backends provide.
//!
//! [`Tx`] is implemented for a SQLite and a PostgreSQL connection by one
//! macro, so the SQL is written once. The few statements whose dialects
//! differ are passed to the macro.

use std::future::Future;

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::rows::*;

/// SQL result alias.
pub type SqlResult<T> = std::result::Result<T, sqlx::Error>;

/// Storage operations on one connection, usually inside a transaction.
pub trait Tx: Send {
    /// Claims many inbound messages in one statement. Returns the ids of the
    /// rows inserted; a row whose (channel instance, provider id) was
    /// already stored, or repeats an earlier row of `rows`, is left out.
    fn claim_many(
        &mut self,
        rows: &[NewInbound],
    ) -> impl Future<Output = SqlResult<Vec<String>>> + Send;
    /// Inserts inbound messages, skipping any whose (channel instance,
    /// provider id) exists; returns how many were inserted.
    fn insert_inbound_many(
        &mut self,
        rows: &[&NewInbound],
    ) -> impl Future<Output = SqlResult<u64>> + Send;
    /// Which of these message ids are stored.
    fn stored_message_ids(
        &mut self,
        ids: &[&str],
    ) -> impl Future<Output = SqlResult<Vec<String>>> + Send;
    /// Claims stored messages not yet processed, oldest first. On
    /// PostgreSQL the rows stay locked (`SKIP LOCKED`) until the transaction
    /// ends, so several processors share the work.
    fn pending_inbound(
        &mut self,
        limit: i64,
    ) -> impl Future<Output = SqlResult<Vec<InboundRow>>> + Send;
    /// Marks a message processed with an error, so it does not block the
    /// queue; `salur reprocess` can take it up again.
    fn set_inbound_failed(
        &mut self,
        message_id: &str,
        error: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = SqlResult<()>> + Send;
    /// For replayed (channel instance, provider id) pairs: the stored
    /// message id, its complaint, and the code the citizen was given (the
    /// first complaint's for a duplicate).
    fn replay_info(
        &mut self,
        keys: &[(&str, &str)],
    ) -> impl Future<Output = SqlResult<Vec<ReplayInfo>>> + Send;
    /// One inbound message, without its payload.
    fn inbound_view(
        &mut self,
        id: &str,
    ) -> impl Future<Output = SqlResult<Option<InboundView>>> + Send;
    /// The stored message id and complaint for a provider id.
    fn find_inbound(
        &mut self,
        channel_name: &str,
        provider_message_id: &str,
    ) -> impl Future<Output = SqlResult<Option<(String, Option<String>)>>> + Send;
    /// Links a message to its complaint and marks it processed.
    fn set_inbound_complaint(
        &mut self,
        message_id: &str,
        complaint_id: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = SqlResult<()>> + Send;
    /// The messages a complaint was built from, oldest first.
    fn inbound_for_complaint(
        &mut self,
        complaint_id: &str,
    ) -> impl Future<Output = SqlResult<Vec<InboundRow>>> + Send;

    /// The reporter owning an identity handle.
    fn identity_reporter(
        &mut self,
        handle: &str,
    ) -> impl Future<Output = SqlResult<Option<String>>> + Send;
    /// A reporter with this E.164 phone.
    fn reporter_by_phone(
        &mut self,
        phone: &str,
    ) -> impl Future<Output = SqlResult<Option<String>>> + Send;
    /// A reporter with this email.
    fn reporter_by_email(
        &mut self,
        email: &str,
    ) -> impl Future<Output = SqlResult<Option<String>>> + Send;
    /// Inserts a reporter.
    fn insert_reporter(
        &mut self,
        r: &ReporterRow,
        now: DateTime<Utc>,
    ) -> impl Future<Output = SqlResult<()>> + Send;
    /// Fills in the name, phone and email a reporter lacks.
    fn enrich_reporter(
        &mut self,
        r: &ReporterRow,
        now: DateTime<Utc>,
    ) -> impl Future<Output = SqlResult<()>> + Send;
    /// Deletes a reporter that lost an insert race.
    fn delete_reporter(&mut self, id: &str) -> impl Future<Output = SqlResult<()>> + Send;
    /// Loads a reporter.
    fn reporter(&mut self, id: &str)
    -> impl Future<Output = SqlResult<Option<ReporterRow>>> + Send;
    /// Inserts an identity; `false` when the handle exists already.
    fn insert_identity(
        &mut self,
        handle: &str,
        reporter_id: &str,
        channel: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = SqlResult<bool>> + Send;

    /// Inserts a complaint; `false` when its open key or tracking code exists.
    fn insert_complaint(
        &mut self,
        c: &NewComplaint,
    ) -> impl Future<Output = SqlResult<bool>> + Send;
    /// The open complaint for an assembly key.
    fn open_complaint(
        &mut self,
        open_key: &str,
    ) -> impl Future<Output = SqlResult<Option<ComplaintRow>>> + Send;
    /// A complaint by id.
    fn complaint(
        &mut self,
        id: &str,
    ) -> impl Future<Output = SqlResult<Option<ComplaintRow>>> + Send;
    /// A complaint by tracking code.
    fn complaint_by_tracking_code(
        &mut self,
        code: &str,
    ) -> impl Future<Output = SqlResult<Option<ComplaintRow>>> + Send;
    /// Replaces the content of a complaint after a fragment joined or a
    /// re-normalisation.
    fn update_complaint_content(
        &mut self,
        c: &ComplaintRow,
        now: DateTime<Utc>,
    ) -> impl Future<Output = SqlResult<()>> + Send;
    /// Open complaints whose last fragment is older than `before`.
    fn due_open_complaints(
        &mut self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> impl Future<Output = SqlResult<Vec<String>>> + Send;
    /// Seals a complaint: no fragment joins it after this.
    fn seal_complaint(
        &mut self,
        id: &str,
        status: &str,
        duplicate_of: Option<&str>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = SqlResult<()>> + Send;
    /// The earliest sealed, non-duplicate complaint with the same content key
    /// since `since`, from the same reporter or a reporter sharing the phone
    /// or email.
    fn same_content(
        &mut self,
        content_key: &str,
        since: DateTime<Utc>,
        exclude_id: &str,
        reporter: &ReporterRow,
    ) -> impl Future<Output = SqlResult<Option<(String, String)>>> + Send;
    /// A page of complaints, newest first.
    fn list_complaints(
        &mut self,
        f: &ComplaintFilter,
    ) -> impl Future<Output = SqlResult<Vec<ComplaintRow>>> + Send;
    /// Complaint ids after `after_id`, oldest first (for re-processing).
    fn complaint_ids_after(
        &mut self,
        after_id: &str,
        limit: i64,
    ) -> impl Future<Output = SqlResult<Vec<String>>> + Send;
    /// Counts complaints (for tests and the benchmark).
    fn count_complaints(&mut self) -> impl Future<Output = SqlResult<i64>> + Send;
    /// Every provider message id stored for a channel instance (for crash
    /// tests and the benchmark's loss check).
    fn provider_ids(
        &mut self,
        channel_name: &str,
    ) -> impl Future<Output = SqlResult<Vec<String>>> + Send;
    /// Counts the rows of one of the intake tables (for tests, the benchmark
    /// and operators). Unknown table names count as zero.
    fn count_rows(&mut self, table: &'static str) -> impl Future<Output = SqlResult<i64>> + Send;

    /// Inserts attachment metadata.
    fn insert_attachment(
        &mut self,
        a: &NewAttachment,
        now: DateTime<Utc>,
    ) -> impl Future<Output = SqlResult<()>> + Send;
    /// Attachments of one complaint.
    fn attachments(
        &mut self,
        complaint_id: &str,
    ) -> impl Future<Output = SqlResult<Vec<AttachmentRow>>> + Send;

    /// Inserts an outbox event.
    fn insert_event(
        &mut self,
        id: &str,
        event_type: &str,
        complaint_id: &str,
        agency: Option<&str>,
        occurred_at: DateTime<Utc>,
        payload: &str,
    ) -> impl Future<Output = SqlResult<()>> + Send;
    /// Inserts a pending delivery of an event to a sink.
    fn insert_delivery(
        &mut self,
        id: &str,
        event_id: &str,
        sink: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = SqlResult<()>> + Send;
    /// Claims due deliveries until `lease_until`.
    fn claim_deliveries(
        &mut self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> impl Future<Output = SqlResult<Vec<ClaimedDelivery>>> + Send;
    /// Marks a delivery done.
    fn delivery_done(
        &mut self,
        id: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = SqlResult<()>> + Send;
    /// Records a failed attempt: retry at `next`, or dead when `next` is `None`.
    fn delivery_failed(
        &mut self,
        id: &str,
        attempts: i32,
        next: Option<DateTime<Utc>>,
        error: &str,
    ) -> impl Future<Output = SqlResult<()>> + Send;
    /// Makes dead deliveries (all, or of one event, or of one sink) pending again.
    fn replay_deliveries(
        &mut self,
        event_id: Option<&str>,
        sink: Option<&str>,
        include_delivered: bool,
        now: DateTime<Utc>,
    ) -> impl Future<Output = SqlResult<u64>> + Send;
    /// A page of deliveries, newest first.
    fn list_deliveries(
        &mut self,
        state: Option<&str>,
        before_id: Option<&str>,
        limit: i64,
    ) -> impl Future<Output = SqlResult<Vec<DeliveryRow>>> + Send;
    /// Counts of deliveries by state, and the oldest pending creation time.
    fn outbox_stats(&mut self) -> impl Future<Output = SqlResult<OutboxStats>> + Send;

    /// Stores input that failed to parse or process.
    fn insert_quarantine(
        &mut self,
        q: &NewQuarantine,
    ) -> impl Future<Output = SqlResult<()>> + Send;
    /// Counts unresolved quarantine entries.
    fn count_quarantine(&mut self) -> impl Future<Output = SqlResult<i64>> + Send;
}

/// What a replayed message was stored as.
#[derive(Debug, Clone, sqlx::FromRow)]
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
];

const COMPLAINT_COLUMNS: &str = "id, tracking_code, status, classification, title, body, content_key, \
     category, agency, location, occurred_at, received_at, channel, channel_name, reporter_id, \
     reporter, anonymous, confidential, duplicate_of, related, message_ids, open_key, \
     last_message_at, sealed_at, updated_at";

macro_rules! complaint_select {
    ($tail:literal) => {
        sqlx::AssertSqlSafe(format!(
            "SELECT {COMPLAINT_COLUMNS} FROM complaints {}",
            $tail
        ))
    };
}

/// A multi-row `INSERT INTO inbound_messages … VALUES …` for `rows`, without
/// its conflict clause.
macro_rules! inbound_insert {
    ($db:ty, $rows:expr) => {{
        let stored_at = chrono::Utc::now();
        let mut q = sqlx::QueryBuilder::<$db>::new(
            "INSERT INTO inbound_messages (id, channel, channel_name, provider_message_id, \
             reporter_handle, received_at, stored_at, raw_content_type, raw_payload, message) ",
        );
        q.push_values($rows, |mut b, m| {
            b.push_bind(&m.id)
                .push_bind(&m.channel)
                .push_bind(&m.channel_name)
                .push_bind(&m.provider_message_id)
                .push_bind(&m.reporter_handle)
                .push_bind(m.received_at)
                .push_bind(stored_at)
                .push_bind(&m.raw_content_type)
                .push_bind(&m.raw_payload)
                .push_bind(Json(&m.message));
        });
        q
    }};
}

/// Implements [`Tx`] for a connection type. `$claim` is the backend's
/// delivery-claim statement.
macro_rules! impl_tx {
    ($db:ty, $conn:ty, $claim:expr, $pending:expr) => {
        impl $crate::store::tx::Tx for $conn {
            async fn claim_many(&mut self, rows: &[NewInbound]) -> SqlResult<Vec<String>> {
                if rows.is_empty() {
                    return Ok(Vec::new());
                }
                let mut q = inbound_insert!($db, rows);
                q.push(" ON CONFLICT (channel_name, provider_message_id) DO NOTHING RETURNING id");
                q.build_query_scalar().fetch_all(&mut *self).await
            }

            async fn insert_inbound_many(&mut self, rows: &[&NewInbound]) -> SqlResult<u64> {
                if rows.is_empty() {
                    return Ok(0);
                }
                let mut q = inbound_insert!($db, rows);
                q.push(" ON CONFLICT (channel_name, provider_message_id) DO NOTHING");
                Ok(q.build().execute(&mut *self).await?.rows_affected())
            }

            async fn stored_message_ids(&mut self, ids: &[&str]) -> SqlResult<Vec<String>> {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let mut q = sqlx::QueryBuilder::<$db>::new("SELECT id FROM inbound_messages WHERE id IN (");
                let mut list = q.separated(", ");
                for id in ids {
                    list.push_bind(*id);
                }
                q.push(")");
                q.build_query_scalar().fetch_all(&mut *self).await
            }

            async fn pending_inbound(&mut self, limit: i64) -> SqlResult<Vec<InboundRow>> {
                sqlx::query_as($pending).bind(limit).fetch_all(&mut *self).await
            }

            async fn set_inbound_failed(&mut self, message_id: &str, error: &str, now: DateTime<Utc>) -> SqlResult<()> {
                sqlx::query("UPDATE inbound_messages SET error = $2, processed_at = $3 WHERE id = $1")
                    .bind(message_id)
                    .bind(error)
                    .bind(now)
                    .execute(&mut *self)
                    .await?;
                Ok(())
            }

            async fn replay_info(&mut self, keys: &[(&str, &str)]) -> SqlResult<Vec<ReplayInfo>> {
                if keys.is_empty() {
                    return Ok(Vec::new());
                }
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "SELECT m.channel_name, m.provider_message_id, m.id, m.complaint_id, \
                     COALESCE(f.tracking_code, c.tracking_code) AS tracking_code \
                     FROM inbound_messages m \
                     LEFT JOIN complaints c ON c.id = m.complaint_id \
                     LEFT JOIN complaints f ON f.id = c.duplicate_of \
                     WHERE (m.channel_name, m.provider_message_id) IN ",
                );
                q.push_tuples(keys, |mut b, (channel, id)| {
                    b.push_bind(*channel).push_bind(*id);
                });
                q.build_query_as().fetch_all(&mut *self).await
            }

            async fn inbound_view(&mut self, id: &str) -> SqlResult<Option<InboundView>> {
                sqlx::query_as(
                    "SELECT id, channel, channel_name, provider_message_id, received_at, stored_at, \
                     complaint_id, processed_at, error FROM inbound_messages WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&mut *self)
                .await
            }

            async fn find_inbound(
                &mut self,
                channel_name: &str,
                provider_message_id: &str,
            ) -> SqlResult<Option<(String, Option<String>)>> {
                sqlx::query_as(
                    "SELECT id, complaint_id FROM inbound_messages \
                     WHERE channel_name = $1 AND provider_message_id = $2",
                )
                .bind(channel_name)
                .bind(provider_message_id)
                .fetch_optional(&mut *self)
                .await
            }

            async fn set_inbound_complaint(
                &mut self,
                message_id: &str,
                complaint_id: &str,
                now: DateTime<Utc>,
            ) -> SqlResult<()> {
                sqlx::query(
                    "UPDATE inbound_messages SET complaint_id = $2, processed_at = $3, error = NULL \
                     WHERE id = $1",
                )
                .bind(message_id)
                .bind(complaint_id)
                .bind(now)
                .execute(&mut *self)
                .await?;
                sqlx::query(
                    "INSERT INTO complaint_messages (complaint_id, message_id, linked_at) \
                     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .bind(complaint_id)
                .bind(message_id)
                .bind(now)
                .execute(&mut *self)
                .await?;
                Ok(())
            }

            async fn inbound_for_complaint(&mut self, complaint_id: &str) -> SqlResult<Vec<InboundRow>> {
                sqlx::query_as(
                    "SELECT m.id, m.channel, m.channel_name, m.provider_message_id, m.raw_content_type, \
                     m.raw_payload, m.message, m.complaint_id, m.received_at \
                     FROM complaint_messages l JOIN inbound_messages m ON m.id = l.message_id \
                     WHERE l.complaint_id = $1 ORDER BY m.received_at, m.id",
                )
                .bind(complaint_id)
                .fetch_all(&mut *self)
                .await
            }

            async fn identity_reporter(&mut self, handle: &str) -> SqlResult<Option<String>> {
                sqlx::query_scalar("SELECT reporter_id FROM reporter_identities WHERE handle = $1")
                    .bind(handle)
                    .fetch_optional(&mut *self)
                    .await
            }

            async fn reporter_by_phone(&mut self, phone: &str) -> SqlResult<Option<String>> {
                sqlx::query_scalar("SELECT id FROM reporters WHERE phone = $1 ORDER BY id LIMIT 1")
                    .bind(phone)
                    .fetch_optional(&mut *self)
                    .await
            }

            async fn reporter_by_email(&mut self, email: &str) -> SqlResult<Option<String>> {
                sqlx::query_scalar("SELECT id FROM reporters WHERE email = $1 ORDER BY id LIMIT 1")
                    .bind(email)
                    .fetch_optional(&mut *self)
                    .await
            }

            async fn insert_reporter(&mut self, r: &ReporterRow, now: DateTime<Utc>) -> SqlResult<()> {
                sqlx::query(
                    "INSERT INTO reporters (id, name, phone, email, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $5)",
                )
                .bind(&r.id)
                .bind(&r.name)
                .bind(&r.phone)
                .bind(&r.email)
                .bind(now)
                .execute(&mut *self)
                .await?;
                Ok(())
            }

            async fn enrich_reporter(&mut self, r: &ReporterRow, now: DateTime<Utc>) -> SqlResult<()> {
                sqlx::query(
                    "UPDATE reporters SET name = COALESCE(name, $2), phone = COALESCE(phone, $3), \
                     email = COALESCE(email, $4), updated_at = $5 \
                     WHERE id = $1 AND ((name IS NULL AND $2 IS NOT NULL) \
                       OR (phone IS NULL AND $3 IS NOT NULL) OR (email IS NULL AND $4 IS NOT NULL))",
                )
                .bind(&r.id)
                .bind(&r.name)
                .bind(&r.phone)
                .bind(&r.email)
                .bind(now)
                .execute(&mut *self)
                .await?;
                Ok(())
            }

            async fn delete_reporter(&mut self, id: &str) -> SqlResult<()> {
                sqlx::query("DELETE FROM reporters WHERE id = $1")
                    .bind(id)
                    .execute(&mut *self)
                    .await?;
                Ok(())
            }

            async fn reporter(&mut self, id: &str) -> SqlResult<Option<ReporterRow>> {
                sqlx::query_as("SELECT id, name, phone, email FROM reporters WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *self)
                    .await
            }

            async fn insert_identity(
                &mut self,
                handle: &str,
                reporter_id: &str,
                channel: &str,
                now: DateTime<Utc>,
            ) -> SqlResult<bool> {
                let r = sqlx::query(
                    "INSERT INTO reporter_identities (handle, reporter_id, channel, created_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (handle) DO NOTHING",
                )
                .bind(handle)
                .bind(reporter_id)
                .bind(channel)
                .bind(now)
                .execute(&mut *self)
                .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn insert_complaint(&mut self, c: &NewComplaint) -> SqlResult<bool> {
                let r = sqlx::query(
                    "INSERT INTO complaints (id, tracking_code, status, classification, title, body, \
                     content_key, category, agency, location, occurred_at, received_at, channel, \
                     channel_name, reporter_id, reporter, anonymous, confidential, duplicate_of, \
                     message_ids, open_key, last_message_at, sealed_at, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
                     $17, $18, $19, $20, $21, $22, $23, $24, $24) ON CONFLICT DO NOTHING",
                )
                .bind(&c.id)
                .bind(&c.tracking_code)
                .bind(&c.status)
                .bind(&c.classification)
                .bind(&c.title)
                .bind(&c.body)
                .bind(&c.content_key)
                .bind(&c.category)
                .bind(&c.agency)
                .bind(c.location.as_ref().map(Json))
                .bind(c.occurred_at)
                .bind(c.received_at)
                .bind(&c.channel)
                .bind(&c.channel_name)
                .bind(&c.reporter_id)
                .bind(Json(&c.reporter))
                .bind(c.anonymous)
                .bind(c.confidential)
                .bind(&c.duplicate_of)
                .bind(Json(&c.message_ids))
                .bind(&c.open_key)
                .bind(c.last_message_at)
                .bind(c.sealed_at)
                .bind(c.now)
                .execute(&mut *self)
                .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn open_complaint(&mut self, open_key: &str) -> SqlResult<Option<ComplaintRow>> {
                sqlx::query_as(complaint_select!("WHERE open_key = $1"))
                    .bind(open_key)
                    .fetch_optional(&mut *self)
                    .await
            }

            async fn complaint(&mut self, id: &str) -> SqlResult<Option<ComplaintRow>> {
                sqlx::query_as(complaint_select!("WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&mut *self)
                    .await
            }

            async fn complaint_by_tracking_code(&mut self, code: &str) -> SqlResult<Option<ComplaintRow>> {
                sqlx::query_as(complaint_select!("WHERE tracking_code = $1"))
                    .bind(code)
                    .fetch_optional(&mut *self)
                    .await
            }

            async fn update_complaint_content(&mut self, c: &ComplaintRow, now: DateTime<Utc>) -> SqlResult<()> {
                sqlx::query(
                    "UPDATE complaints SET title = $2, body = $3, content_key = $4, location = $5, \
                     reporter = $6, message_ids = $7, last_message_at = $8, updated_at = $9 WHERE id = $1",
                )
                .bind(&c.id)
                .bind(&c.title)
                .bind(&c.body)
                .bind(&c.content_key)
                .bind(&c.location)
                .bind(&c.reporter)
                .bind(&c.message_ids)
                .bind(c.last_message_at)
                .bind(now)
                .execute(&mut *self)
                .await?;
                Ok(())
            }

            async fn due_open_complaints(&mut self, before: DateTime<Utc>, limit: i64) -> SqlResult<Vec<String>> {
                sqlx::query_scalar(
                    "SELECT id FROM complaints WHERE open_key IS NOT NULL AND last_message_at < $1 \
                     ORDER BY last_message_at LIMIT $2",
                )
                .bind(before)
                .bind(limit)
                .fetch_all(&mut *self)
                .await
            }

            async fn seal_complaint(
                &mut self,
                id: &str,
                status: &str,
                duplicate_of: Option<&str>,
                now: DateTime<Utc>,
            ) -> SqlResult<()> {
                sqlx::query(
                    "UPDATE complaints SET open_key = NULL, sealed_at = $2, status = $3, \
                     duplicate_of = $4, updated_at = $2 WHERE id = $1",
                )
                .bind(id)
                .bind(now)
                .bind(status)
                .bind(duplicate_of)
                .execute(&mut *self)
                .await?;
                Ok(())
            }

            async fn same_content(
                &mut self,
                content_key: &str,
                since: DateTime<Utc>,
                exclude_id: &str,
                reporter: &ReporterRow,
            ) -> SqlResult<Option<(String, String)>> {
                sqlx::query_as(
                    "SELECT c.id, c.tracking_code FROM complaints c JOIN reporters r ON r.id = c.reporter_id \
                     WHERE c.content_key = $1 AND c.received_at >= $2 AND c.id <> $3 \
                       AND c.sealed_at IS NOT NULL AND c.duplicate_of IS NULL \
                       AND (c.reporter_id = $4 OR ($5 IS NOT NULL AND r.phone = $5) \
                            OR ($6 IS NOT NULL AND r.email = $6)) \
                     ORDER BY c.received_at, c.id LIMIT 1",
                )
                .bind(content_key)
                .bind(since)
                .bind(exclude_id)
                .bind(&reporter.id)
                .bind(&reporter.phone)
                .bind(&reporter.email)
                .fetch_optional(&mut *self)
                .await
            }

            async fn list_complaints(&mut self, f: &ComplaintFilter) -> SqlResult<Vec<ComplaintRow>> {
                sqlx::query_as(complaint_select!(
                    "WHERE ($1 IS NULL OR status = $1) \
                       AND ($2 IS NULL OR agency = $2 OR ($2 = '_unrouted' AND agency IS NULL)) \
                       AND ($3 IS NULL OR channel_name = $3) \
                       AND ($4 IS NULL OR tracking_code = $4) \
                       AND ($5 IS NULL OR received_at >= $5) \
                       AND ($6 IS NULL OR id < $6) \
                     ORDER BY id DESC LIMIT $7"
                ))
                .bind(&f.status)
                .bind(&f.agency)
                .bind(&f.channel_name)
                .bind(&f.tracking_code)
                .bind(f.since)
                .bind(&f.before_id)
                .bind(f.limit)
                .fetch_all(&mut *self)
                .await
            }

            async fn complaint_ids_after(&mut self, after_id: &str, limit: i64) -> SqlResult<Vec<String>> {
                sqlx::query_scalar("SELECT id FROM complaints WHERE id > $1 ORDER BY id LIMIT $2")
                    .bind(after_id)
                    .bind(limit)
                    .fetch_all(&mut *self)
                    .await
            }

            async fn count_complaints(&mut self) -> SqlResult<i64> {
                sqlx::query_scalar("SELECT COUNT(*) FROM complaints")
                    .fetch_one(&mut *self)
                    .await
            }

            async fn provider_ids(&mut self, channel_name: &str) -> SqlResult<Vec<String>> {
                sqlx::query_scalar("SELECT provider_message_id FROM inbound_messages WHERE channel_name = $1")
                    .bind(channel_name)
                    .fetch_all(&mut *self)
                    .await
            }

            async fn count_rows(&mut self, table: &'static str) -> SqlResult<i64> {
                if !COUNTABLE.contains(&table) {
                    return Ok(0);
                }
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                    .fetch_one(&mut *self)
                    .await
            }

            async fn insert_attachment(&mut self, a: &NewAttachment, now: DateTime<Utc>) -> SqlResult<()> {
                sqlx::query(
                    "INSERT INTO attachments (id, complaint_id, message_id, provider_ref, mime, size, \
                     sha256, filename, caption, state, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10)",
                )
                .bind(&a.id)
                .bind(&a.complaint_id)
                .bind(&a.message_id)
                .bind(&a.provider_ref)
                .bind(&a.mime)
                .bind(a.size)
                .bind(&a.sha256)
                .bind(&a.filename)
                .bind(&a.caption)
                .bind(now)
                .execute(&mut *self)
                .await?;
                Ok(())
            }

            async fn attachments(&mut self, complaint_id: &str) -> SqlResult<Vec<AttachmentRow>> {
                sqlx::query_as(
                    "SELECT complaint_id, id, mime, size, sha256, filename, state FROM attachments \
                     WHERE complaint_id = $1 ORDER BY id",
                )
                .bind(complaint_id)
                .fetch_all(&mut *self)
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
            ) -> SqlResult<()> {
                sqlx::query(
                    "INSERT INTO outbox_events (id, event_type, complaint_id, agency, occurred_at, payload) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(id)
                .bind(event_type)
                .bind(complaint_id)
                .bind(agency)
                .bind(occurred_at)
                .bind(payload)
                .execute(&mut *self)
                .await?;
                Ok(())
            }

            async fn insert_delivery(
                &mut self,
                id: &str,
                event_id: &str,
                sink: &str,
                now: DateTime<Utc>,
            ) -> SqlResult<()> {
                sqlx::query(
                    "INSERT INTO deliveries (id, event_id, sink, state, attempts, next_attempt_at, created_at) \
                     VALUES ($1, $2, $3, 'pending', 0, $4, $4) ON CONFLICT (event_id, sink) DO NOTHING",
                )
                .bind(id)
                .bind(event_id)
                .bind(sink)
                .bind(now)
                .execute(&mut *self)
                .await?;
                Ok(())
            }

            async fn claim_deliveries(
                &mut self,
                now: DateTime<Utc>,
                lease_until: DateTime<Utc>,
                limit: i64,
            ) -> SqlResult<Vec<ClaimedDelivery>> {
                let ids: Vec<(String,)> = sqlx::query_as($claim)
                    .bind(now)
                    .bind(lease_until)
                    .bind(limit)
                    .fetch_all(&mut *self)
                    .await?;
                let mut out = Vec::with_capacity(ids.len());
                for (id,) in ids {
                    let row: Option<ClaimedDelivery> = sqlx::query_as(
                        "SELECT d.id, d.event_id, d.sink, d.attempts, e.event_type, e.agency, \
                         e.occurred_at, e.payload FROM deliveries d JOIN outbox_events e ON e.id = d.event_id \
                         WHERE d.id = $1",
                    )
                    .bind(&id)
                    .fetch_optional(&mut *self)
                    .await?;
                    out.extend(row);
                }
                Ok(out)
            }

            async fn delivery_done(&mut self, id: &str, now: DateTime<Utc>) -> SqlResult<()> {
                sqlx::query(
                    "UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, delivered_at = $2, \
                     leased_until = NULL, last_error = NULL WHERE id = $1",
                )
                .bind(id)
                .bind(now)
                .execute(&mut *self)
                .await?;
                Ok(())
            }

            async fn delivery_failed(
                &mut self,
                id: &str,
                attempts: i32,
                next: Option<DateTime<Utc>>,
                error: &str,
            ) -> SqlResult<()> {
                sqlx::query(
                    "UPDATE deliveries SET attempts = $2, \
                     state = CASE WHEN $3 IS NULL THEN 'dead' ELSE 'pending' END, \
                     next_attempt_at = COALESCE($3, next_attempt_at), leased_until = NULL, last_error = $4 \
                     WHERE id = $1",
                )
                .bind(id)
                .bind(attempts)
                .bind(next)
                .bind(error)
                .execute(&mut *self)
                .await?;
                Ok(())
            }

            async fn replay_deliveries(
                &mut self,
                event_id: Option<&str>,
                sink: Option<&str>,
                include_delivered: bool,
                now: DateTime<Utc>,
            ) -> SqlResult<u64> {
                let r = sqlx::query(
                    "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = $1, \
                     leased_until = NULL \
                     WHERE (state = 'dead' OR ($4 AND state = 'delivered')) \
                       AND ($2 IS NULL OR event_id = $2) AND ($3 IS NULL OR sink = $3)",
                )
                .bind(now)
                .bind(event_id)
                .bind(sink)
                .bind(include_delivered)
                .execute(&mut *self)
                .await?;
                Ok(r.rows_affected())
            }

            async fn list_deliveries(
                &mut self,
                state: Option<&str>,
                before_id: Option<&str>,
                limit: i64,
            ) -> SqlResult<Vec<DeliveryRow>> {
                sqlx::query_as(
                    "SELECT id, event_id, sink, state, attempts, next_attempt_at, last_error, delivered_at, \
                     created_at FROM deliveries WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR id < $2) \
                     ORDER BY id DESC LIMIT $3",
                )
                .bind(state)
                .bind(before_id)
                .bind(limit)
                .fetch_all(&mut *self)
                .await
            }

            async fn outbox_stats(&mut self) -> SqlResult<OutboxStats> {
                let (pending, oldest_pending): (i64, Option<DateTime<Utc>>) = sqlx::query_as(
                    "SELECT COUNT(*), MIN(created_at) FROM deliveries WHERE state = 'pending'",
                )
                .fetch_one(&mut *self)
                .await?;
                let dead: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM deliveries WHERE state = 'dead'")
                    .fetch_one(&mut *self)
                    .await?;
                Ok(OutboxStats {
                    pending,
                    dead,
                    oldest_pending,
                })
            }

            async fn insert_quarantine(&mut self, q: &NewQuarantine) -> SqlResult<()> {
                sqlx::query(
                    "INSERT INTO quarantine (id, channel_name, source, error, raw_content_type, raw_payload, \
                     message_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&q.id)
                .bind(&q.channel_name)
                .bind(&q.source)
                .bind(&q.error)
                .bind(&q.raw_content_type)
                .bind(&q.raw_payload)
                .bind(&q.message_id)
                .bind(q.now)
                .execute(&mut *self)
                .await?;
                Ok(())
            }

            async fn count_quarantine(&mut self) -> SqlResult<i64> {
                sqlx::query_scalar("SELECT COUNT(*) FROM quarantine WHERE resolved_at IS NULL")
                    .fetch_one(&mut *self)
                    .await
            }
        }
    };
}

impl_tx!(
    sqlx::Sqlite,
    sqlx::SqliteConnection,
    "UPDATE deliveries SET leased_until = $2 WHERE id IN (SELECT id FROM deliveries \
     WHERE state = 'pending' AND next_attempt_at <= $1 AND (leased_until IS NULL OR leased_until < $1) \
     ORDER BY next_attempt_at LIMIT $3) RETURNING id",
    "SELECT id, channel, channel_name, provider_message_id, raw_content_type, raw_payload, message, \
     complaint_id, received_at FROM inbound_messages WHERE processed_at IS NULL \
     ORDER BY stored_at, id LIMIT $1"
);

impl_tx!(
    sqlx::Postgres,
    sqlx::PgConnection,
    "UPDATE deliveries SET leased_until = $2 WHERE id IN (SELECT id FROM deliveries \
     WHERE state = 'pending' AND next_attempt_at <= $1 AND (leased_until IS NULL OR leased_until < $1) \
     ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING id",
    "SELECT id, channel, channel_name, provider_message_id, raw_content_type, raw_payload, message, \
     complaint_id, received_at FROM inbound_messages WHERE processed_at IS NULL \
     ORDER BY stored_at, id LIMIT $1 FOR UPDATE SKIP LOCKED"
);
