//! Intake: from an [`InboundMessage`] to a stored message and its complaint.
//!
//! [`Ingest`] is one write op, so everything below happens in one
//! transaction (for SQLite, inside a group commit):
//! 1. the atomic claim of (channel instance, provider id): a replay stops
//!    here and answers with the complaint it joined the first time;
//! 2. the reporter is found or created, linked across channels by phone and
//!    email;
//! 3. the message joins a complaint: the one it replies to or quotes a
//!    tracking code of, else the reporter's open chat complaint
//!    ([`crate::assemble`]), else a new one;
//! 4. a complaint that is complete at once (email, API) is sealed right
//!    away: duplicate check and `complaint.created` event.

mod parts;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use salur_channels_core::{ChannelKind, InboundMessage, Location};

use crate::assemble;
use crate::domain::{
    AttachmentId, ComplaintId, EmailAddress, MessageId, PhoneE164, ReporterId, TrackingCode,
};
use crate::normalize;
use crate::queue::outbox;
use crate::record::{ReporterView, Status};
use crate::store::{
    ComplaintRow, InboundRow, NewAttachment, NewComplaint, NewInbound, NewQuarantine, Op,
    ReporterRow, Result, Store, StoreError, Tx, claim_messages,
};

/// How many times a colliding tracking code is regenerated.
const TRACKING_CODE_TRIES: usize = 8;

/// Intake settings shared by every ingest.
#[derive(Debug, Clone)]
pub struct IntakeSettings {
    /// Chat fragments join one complaint until this much silence.
    pub quiet_period: chrono::Duration,
    /// Same reporter, same content within this window is a duplicate.
    pub duplicate_window: chrono::Duration,
    /// Region for phone numbers written without a country code.
    pub default_region: String,
    /// Names of the configured sinks: each event gets a delivery per sink.
    pub sinks: Vec<String>,
    /// How long the pieces of a long message wait for the missing ones.
    pub part_timeout: chrono::Duration,
    /// Which channels acknowledge, with what, and how often per number.
    pub replies: crate::replies::ReplyPolicy,
    /// Which channel instances join chat fragments into one complaint.
    pub assemble: HashMap<String, bool>,
}

impl IntakeSettings {
    /// Whether messages of the channel instance `name` join one complaint
    /// until the quiet period passes.
    pub fn assembles(&self, name: &str) -> bool {
        self.assemble.get(name).copied().unwrap_or(false)
    }
}

/// A message with its normalised parts, ready to store.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The message as the channel delivered it.
    pub message: InboundMessage,
    /// Our id for it.
    pub message_id: MessageId,
    /// Cleaned text.
    pub text: String,
    /// The reporter's identity handle, with the phone normalised for SMS.
    pub handle: String,
    /// Cleaned display name.
    pub name: Option<String>,
    /// E.164 phone.
    pub phone: Option<PhoneE164>,
    /// Lower-cased email.
    pub email: Option<EmailAddress>,
    /// Whether chat fragments from this reporter join one complaint.
    pub assemble: bool,
    /// Privacy choices, for intake paths that carry them.
    pub anonymous: bool,
    /// See `anonymous`.
    pub confidential: bool,
    /// Fields an admin or another system sets when creating by API.
    pub extra: Extra,
}

/// Record fields that manual intake may set directly.
#[derive(Debug, Clone, Default)]
pub struct Extra {
    /// Title instead of the derived one.
    pub title: Option<String>,
    /// LAPOR! classification.
    pub classification: Option<crate::record::Classification>,
    /// Category id.
    pub category: Option<String>,
    /// Agency id.
    pub agency: Option<String>,
    /// When it happened.
    pub occurred_at: Option<DateTime<Utc>>,
}

impl Prepared {
    /// The row that claims this message.
    ///
    /// # Errors
    /// When the message cannot be serialised.
    pub fn new_inbound(&self) -> Result<NewInbound> {
        inbound_row(&self.message, &self.message_id, self.handle.clone())
    }

    /// Normalises `message`: text to NFC with tidy whitespace, phone to
    /// E.164, email to lower case, SMS handles keyed on the E.164 number so
    /// `0812…`, `62812…` and `+62812…` are one reporter.
    pub fn new(message: InboundMessage, assemble: bool, default_region: &str) -> Self {
        let text = normalize::clean_text(&message.text);
        let phone = message
            .reporter
            .phone
            .as_deref()
            .and_then(|p| PhoneE164::parse(p, default_region).ok());
        let email = message
            .reporter
            .email
            .as_deref()
            .and_then(|e| EmailAddress::parse(e).ok());
        let name = message
            .reporter
            .name
            .as_deref()
            .map(normalize::clean_text)
            .filter(|n| !n.is_empty());
        let handle = reporter_handle(&message, phone.as_ref());
        Self {
            message,
            message_id: MessageId::new(),
            text,
            handle,
            name,
            phone,
            email,
            assemble,
            anonymous: false,
            confidential: false,
            extra: Extra::default(),
        }
    }
}

/// The identity handle a message's reporter is known by: for SMS the E.164
/// number, so `0812…`, `62812…` and `+62812…` are one reporter.
fn reporter_handle(message: &InboundMessage, phone: Option<&PhoneE164>) -> String {
    match (message.channel, phone) {
        (ChannelKind::Sms, Some(p)) => format!("sms:{}", p.as_str()),
        _ => message.reporter.handle.trim().to_owned(),
    }
}

fn inbound_row(message: &InboundMessage, id: &MessageId, handle: String) -> Result<NewInbound> {
    let parsed = serde_json::to_string(message).map_err(|e| StoreError::Op(e.to_string()))?;
    Ok(NewInbound {
        id: id.to_string(),
        channel: message.channel.as_str().to_owned(),
        channel_name: message.channel_name.clone(),
        provider_message_id: message.provider_message_id.clone(),
        reporter_handle: handle,
        received_at: message.received_at,
        raw_content_type: message.raw_content_type.clone(),
        raw_payload: message.raw.to_vec(),
        message: parsed,
    })
}

/// The row that claims a webhook message. Only the reporter handle is
/// worked out here; the rest of normalisation runs once, in the processor.
///
/// # Errors
/// When the message cannot be serialised.
pub fn claim_row(message: &InboundMessage, default_region: &str) -> Result<NewInbound> {
    let phone = match message.channel {
        ChannelKind::Sms => message
            .reporter
            .phone
            .as_deref()
            .and_then(|p| PhoneE164::parse(p, default_region).ok()),
        _ => None,
    };
    inbound_row(
        message,
        &MessageId::new(),
        reporter_handle(message, phone.as_ref()),
    )
}

/// What the intake did with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Our id of the stored message (the first one, for a replay).
    pub message_id: String,
    /// The complaint it joined.
    pub complaint_id: Option<String>,
    /// The code to give the citizen: the earlier complaint's code when this
    /// one duplicates it.
    pub tracking_code: Option<String>,
    /// The message was stored before: nothing new was created.
    pub replay: bool,
    /// A new complaint was opened.
    pub created: bool,
    /// The earlier complaint this one duplicates (tier 2).
    pub duplicate_of: Option<String>,
}

/// The ingest write op.
pub struct Ingest {
    prepared: Prepared,
    settings: Arc<IntakeSettings>,
}

impl Ingest {
    /// An op storing `prepared`.
    pub fn new(prepared: Prepared, settings: Arc<IntakeSettings>) -> Self {
        Self { prepared, settings }
    }
}

impl Op for Ingest {
    type Output = Outcome;

    async fn run<C: Tx>(&mut self, c: &mut C) -> Result<Outcome> {
        ingest(c, &self.prepared, &self.settings, Utc::now()).await
    }
}

async fn ingest<C: Tx>(
    c: &mut C,
    p: &Prepared,
    s: &IntakeSettings,
    now: DateTime<Utc>,
) -> Result<Outcome> {
    let claimed = claim_messages(c, std::slice::from_ref(&p.new_inbound()?))
        .await?
        .pop()
        .ok_or_else(|| StoreError::Op("claim returned nothing".into()))?;
    if claimed.replay {
        return Ok(Outcome {
            message_id: claimed.message_id,
            complaint_id: claimed.complaint_id,
            tracking_code: claimed.tracking_code,
            replay: true,
            created: false,
            duplicate_of: None,
        });
    }
    process(c, p, s, now).await
}

/// Joins a stored message to a complaint (everything after the claim).
async fn process<C: Tx>(
    c: &mut C,
    p: &Prepared,
    s: &IntakeSettings,
    now: DateTime<Utc>,
) -> Result<Outcome> {
    let m = &p.message;
    let message_id = p.message_id.to_string();
    let reporter = resolve_reporter(c, p, now).await?;

    // A reply to one of our messages about a complaint of this reporter
    // (or, in an email thread, to their own earlier message), or a quote of
    // its tracking code.
    let mut target = None;
    for r in m.reply_to.iter().chain(&m.references) {
        if TrackingCode::parse(r).is_ok() {
            continue;
        }
        target = c.complaint_by_reply_id(&m.channel_name, r).await?;
        if target.is_none()
            && let Some((_, Some(id))) = c.find_inbound(&m.channel_name, r).await?
        {
            target = c.complaint(&id).await?;
        }
        if target.is_some() {
            break;
        }
    }
    if target.is_none()
        && let Some(code) = m
            .reply_to
            .as_deref()
            .and_then(|r| TrackingCode::parse(r).ok())
            .or_else(|| m.subject.as_deref().and_then(TrackingCode::find_in_text))
            .or_else(|| TrackingCode::find_in_text(&p.text))
    {
        target = c.complaint_by_tracking_code(code.as_str()).await?;
    }
    if let Some(target) = target
        && target.reporter_id == reporter.id
    {
        return add_to(c, target, p, s, now).await;
    }

    if p.assemble {
        let open_key = format!("{}|{}", reporter.id, m.channel_name);
        for _ in 0..TRACKING_CODE_TRIES {
            if let Some(open) = c.open_complaint(&open_key).await? {
                if now - open.last_message_at <= s.quiet_period {
                    let open = append(c, open, p, &message_id, now).await?;
                    return Ok(joined(message_id, &open, false));
                }
                assemble::seal(c, open, s, now).await?;
            }
            let new = new_complaint(p, &reporter, Some(open_key.clone()), None, now);
            if c.insert_complaint(&new).await? {
                finish_new(c, p, &new, &message_id, now).await?;
                return Ok(Outcome {
                    message_id,
                    complaint_id: Some(new.id),
                    tracking_code: Some(new.tracking_code),
                    replay: false,
                    created: true,
                    duplicate_of: None,
                });
            }
            // Either another writer opened the complaint first (the loop
            // then joins it) or the tracking code collided (a new one is drawn).
        }
    } else {
        let content_key = normalize::content_key(&p.text);
        let earlier = c
            .same_content(
                &content_key,
                m.received_at - s.duplicate_window,
                "",
                &reporter,
            )
            .await?;
        for _ in 0..TRACKING_CODE_TRIES {
            let new = new_complaint(
                p,
                &reporter,
                None,
                earlier.as_ref().map(|e| e.0.clone()),
                now,
            );
            if c.insert_complaint(&new).await? {
                finish_new(c, p, &new, &message_id, now).await?;
                outbox::emit(c, &new.id, crate::record::EventType::Created, now, &s.sinks).await?;
                return Ok(Outcome {
                    message_id,
                    complaint_id: Some(new.id),
                    tracking_code: Some(
                        earlier.as_ref().map_or(new.tracking_code, |e| e.1.clone()),
                    ),
                    replay: false,
                    created: true,
                    duplicate_of: earlier.map(|e| e.0),
                });
            }
        }
    }
    Err(StoreError::Op(
        "could not allocate a unique tracking code".into(),
    ))
}

/// Adds a message to an existing complaint; a sealed one is announced as
/// `complaint.updated`.
async fn add_to<C: Tx>(
    c: &mut C,
    target: ComplaintRow,
    p: &Prepared,
    s: &IntakeSettings,
    now: DateTime<Utc>,
) -> Result<Outcome> {
    let message_id = p.message_id.to_string();
    let sealed = target.sealed_at.is_some();
    let target = append(c, target, p, &message_id, now).await?;
    if sealed {
        outbox::emit(
            c,
            &target.id,
            crate::record::EventType::Updated,
            now,
            &s.sinks,
        )
        .await?;
    }
    Ok(joined(message_id, &target, false))
}

fn joined(message_id: String, c: &ComplaintRow, replay: bool) -> Outcome {
    Outcome {
        message_id,
        complaint_id: Some(c.id.clone()),
        tracking_code: Some(c.tracking_code.clone()),
        replay,
        created: false,
        duplicate_of: c.duplicate_of.clone(),
    }
}

/// Processes stored messages that no complaint has yet: the second half of
/// intake for webhook messages, which are acknowledged as soon as they are
/// claimed.
pub struct ProcessPending {
    /// Intake settings.
    pub settings: Arc<IntakeSettings>,
    /// Most messages per transaction.
    pub limit: i64,
}

impl Op for ProcessPending {
    type Output = usize;
    const BACKGROUND: bool = true;

    async fn run<C: Tx>(&mut self, c: &mut C) -> Result<usize> {
        let rows = c.pending_inbound(self.limit).await?;
        let now = Utc::now();
        let n = rows.len();
        let through = match rows.last() {
            Some(last) if i64::try_from(n).is_ok_and(|n| n >= self.limit) => Some(last.id.clone()),
            _ => None,
        };
        for row in rows {
            let prepared = match prepared_from_row(&row, &self.settings) {
                Ok(p) => p,
                Err(error) => {
                    quarantine(c, &row, &error, now).await?;
                    continue;
                }
            };
            // The channel could not read it: kept for an admin, no complaint.
            if let Some(flag) = &prepared.message.flag {
                quarantine(c, &row, &format!("flagged by the channel: {flag}"), now).await?;
                continue;
            }
            // Kept for the record only: an out-of-office answer, list mail.
            if let Some(reason) = &prepared.message.ignore {
                tracing::debug!(message = %row.id, channel = %row.channel_name, %reason, "message kept without a complaint");
                c.set_inbound_processed(&row.id, now).await?;
                continue;
            }
            // A report that one of our messages bounced: recorded on it.
            if let Some(bounce) = &prepared.message.bounce {
                c.outbound_status(
                    &row.channel_name,
                    &bounce.of,
                    "bounced",
                    Some(&bounce.reason),
                )
                .await?;
                c.set_inbound_processed(&row.id, now).await?;
                continue;
            }
            // A command, a button tap, a shared contact: it steers the
            // conversation and joins no complaint.
            if prepared.message.control.is_some() {
                match crate::guided::control(c, &prepared, &self.settings, now).await {
                    Ok(()) => {}
                    Err(StoreError::Op(error)) => quarantine(c, &row, &error, now).await?,
                    Err(e) => return Err(e),
                }
                continue;
            }
            // A guided channel's conversation, read once for this message.
            let mut talk = if self.settings.replies.guided.contains(&row.channel_name) {
                Some(crate::guided::Talk::load(c, &prepared, &self.settings, now).await?)
            } else {
                None
            };
            if let Some(talk) = talk.as_mut()
                && crate::guided::keyboard_answer(c, talk, &prepared).await?
            {
                continue;
            }
            let done = if prepared.message.part.is_some() {
                parts::take(c, &prepared, &self.settings, now).await
            } else if prepared.message.replaces.is_some() {
                match edit(c, &prepared, &self.settings, now).await {
                    Ok(None) => process(c, &prepared, &self.settings, now).await.map(Some),
                    done => done,
                }
            } else {
                process(c, &prepared, &self.settings, now).await.map(Some)
            };
            match done {
                Ok(Some(outcome)) => {
                    let (channel, handle) = (&prepared.message.channel_name, &prepared.handle);
                    // No automatic answer to automatic mail, lists or ourselves.
                    if prepared.message.no_reply.is_none() {
                        acknowledge(c, &self.settings, channel, handle, &outcome, now).await?;
                    }
                    if let Some(talk) = talk.as_mut() {
                        crate::guided::after_content(c, talk, &prepared, &outcome).await?;
                    }
                }
                Ok(None) => {}
                // The op's own refusal (not a database error): keep the
                // message, record why, and go on with the others.
                Err(StoreError::Op(error)) => quarantine(c, &row, &error, now).await?,
                Err(e) => return Err(e),
            }
        }
        c.pending_processed(through.as_deref()).await?;
        Ok(n)
    }
}

/// Joins the pieces of every long message that waited longer than the part
/// timeout, as they are, and acknowledges the complaints they open. Runs
/// with the sealer: a timeout of minutes needs no look on every message.
///
/// # Errors
/// Database errors.
pub async fn flush_overdue_parts<C: Tx>(
    c: &mut C,
    s: &IntakeSettings,
    now: DateTime<Utc>,
) -> Result<()> {
    for (group, outcome) in parts::flush_overdue(c, s, now).await? {
        let (channel, handle) = (&group.channel_name, &group.reporter_handle);
        acknowledge(c, s, channel, handle, &outcome, now).await?;
    }
    Ok(())
}

/// Queues the acknowledgement of a complaint the message opened, with the
/// code the citizen should quote (the earlier complaint's for a duplicate).
/// A guided channel acknowledges when the complaint is sent instead.
async fn acknowledge<C: Tx>(
    c: &mut C,
    s: &IntakeSettings,
    channel_name: &str,
    handle: &str,
    outcome: &Outcome,
    now: DateTime<Utc>,
) -> Result<()> {
    if !outcome.created || s.replies.guided.contains(channel_name) {
        return Ok(());
    }
    let (Some(complaint_id), Some(code)) = (&outcome.complaint_id, &outcome.tracking_code) else {
        return Ok(());
    };
    let to = crate::replies::Recipient {
        channel_name,
        handle,
        complaint_id,
    };
    crate::replies::acknowledge(c, &s.replies, to, code, now).await
}

fn prepared_from_row(
    row: &InboundRow,
    s: &IntakeSettings,
) -> std::result::Result<Prepared, String> {
    let mut message: InboundMessage = serde_json::from_str(&row.message.0)
        .map_err(|e| format!("stored message unreadable: {e}"))?;
    message.raw = bytes::Bytes::from(row.raw_payload.clone());
    message.raw_content_type = row.raw_content_type.clone();
    let mut p = Prepared::new(message, s.assembles(&row.channel_name), &s.default_region);
    p.message_id = MessageId::parse(&row.id).map_err(|e| e.to_string())?;
    Ok(p)
}

async fn quarantine<C: Tx>(
    c: &mut C,
    row: &InboundRow,
    error: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    tracing::warn!(message = %row.id, channel = %row.channel_name, %error, "message quarantined");
    c.set_inbound_failed(&row.id, error, now).await?;
    c.insert_quarantine(&NewQuarantine {
        id: crate::domain::QuarantineId::new().to_string(),
        channel_name: row.channel_name.clone(),
        source: "intake".into(),
        error: error.to_owned(),
        raw_content_type: row.raw_content_type.clone(),
        raw_payload: row.raw_payload.clone(),
        message_id: Some(row.id.clone()),
        now,
    })
    .await?;
    Ok(())
}

/// Processes every stored message waiting for it, then returns (for
/// commands that store messages without a running server: `salur import`).
///
/// # Errors
/// Database errors.
pub async fn process_all(store: &Store, settings: Arc<IntakeSettings>) -> Result<()> {
    loop {
        let n = store
            .write(ProcessPending {
                settings: settings.clone(),
                limit: 64,
            })
            .await?;
        if n == 0 {
            return Ok(());
        }
    }
}

/// Runs [`ProcessPending`] whenever `wake` fires (after a claim) and every
/// `interval`, until `shutdown` fires. Work left at shutdown is done by the
/// next start: it is all in the database.
pub async fn run_processor(
    store: Store,
    op: ProcessPending,
    wake: Arc<tokio::sync::Notify>,
    interval: std::time::Duration,
    on_created: Vec<Arc<tokio::sync::Notify>>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let busy = match store
            .write(ProcessPending {
                settings: op.settings.clone(),
                limit: op.limit,
            })
            .await
        {
            Ok(n) => {
                if n > 0 {
                    on_created.iter().for_each(|w| w.notify_one());
                }
                n as i64 >= op.limit
            }
            Err(e) => {
                tracing::warn!(error = %e, "processing stored messages failed; retrying");
                false
            }
        };
        if *shutdown.borrow() {
            return;
        }
        if busy {
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Finds the reporter behind an identity, or links the identity to a
/// reporter with the same phone or email, or creates one.
pub(crate) async fn resolve_reporter<C: Tx>(
    c: &mut C,
    p: &Prepared,
    now: DateTime<Utc>,
) -> Result<ReporterRow> {
    let wanted = ReporterRow {
        id: String::new(),
        name: p.name.clone(),
        phone: p.phone.as_ref().map(|x| x.as_str().to_owned()),
        email: p.email.as_ref().map(|x| x.as_str().to_owned()),
    };
    let mut existing = c.identity_reporter(&p.handle).await?;
    if existing.is_none() {
        let mut linked = None;
        if let Some(phone) = &wanted.phone {
            linked = c.reporter_by_phone(phone).await?;
        }
        if linked.is_none()
            && let Some(email) = &wanted.email
        {
            linked = c.reporter_by_email(email).await?;
        }
        let (id, created) = match linked {
            Some(id) => (id, false),
            None => {
                let id = ReporterId::new().to_string();
                c.insert_reporter(
                    &ReporterRow {
                        id: id.clone(),
                        ..wanted.clone()
                    },
                    now,
                )
                .await?;
                (id, true)
            }
        };
        if c.insert_identity(&p.handle, &id, p.message.channel.as_str(), now)
            .await?
        {
            existing = Some(id);
        } else {
            // Another writer linked this handle first: use its reporter, and
            // drop the one made here, which nothing else references.
            if created {
                c.delete_reporter(&id).await?;
            }
            existing = c.identity_reporter(&p.handle).await?;
        }
    }
    let id = existing.ok_or_else(|| StoreError::Op("identity without reporter".into()))?;
    c.enrich_reporter(
        &ReporterRow {
            id: id.clone(),
            ..wanted
        },
        now,
    )
    .await?;
    c.reporter(&id)
        .await?
        .ok_or_else(|| StoreError::Op("reporter vanished".into()))
}

fn new_complaint(
    p: &Prepared,
    reporter: &ReporterRow,
    open_key: Option<String>,
    duplicate_of: Option<String>,
    now: DateTime<Utc>,
) -> NewComplaint {
    let m = &p.message;
    let sealed = open_key.is_none();
    NewComplaint {
        id: ComplaintId::new().to_string(),
        tracking_code: TrackingCode::generate().to_string(),
        status: if duplicate_of.is_some() {
            Status::Duplicate
        } else {
            Status::New
        }
        .as_str()
        .to_owned(),
        classification: p
            .extra
            .classification
            .unwrap_or_default()
            .as_str()
            .to_owned(),
        title: p
            .extra
            .title
            .as_deref()
            .map(normalize::clean_text)
            .filter(|t| !t.is_empty())
            .or_else(|| {
                m.subject
                    .as_deref()
                    .map(normalize::derive_title)
                    .filter(|t| !t.is_empty())
            })
            .unwrap_or_else(|| normalize::derive_title(&p.text)),
        body: p.text.clone(),
        content_key: normalize::content_key(&p.text),
        category: p.extra.category.clone(),
        agency: p.extra.agency.clone(),
        location: m.location.clone(),
        occurred_at: p.extra.occurred_at,
        received_at: m.received_at,
        channel: m.channel.as_str().to_owned(),
        channel_name: m.channel_name.clone(),
        reporter_id: reporter.id.clone(),
        reporter: ReporterView {
            name: reporter.name.clone().or_else(|| p.name.clone()),
            phone: reporter.phone.clone(),
            email: reporter.email.clone(),
            handle: p.handle.clone(),
        },
        forwarded_by: m.forwarded_by.as_ref().map(|f| ReporterView {
            name: f.name.as_deref().map(normalize::clean_text),
            phone: f.phone.clone(),
            email: f
                .email
                .as_deref()
                .and_then(|e| EmailAddress::parse(e).ok())
                .map(|e| e.as_str().to_owned()),
            handle: f.handle.clone(),
        }),
        anonymous: p.anonymous,
        confidential: p.confidential,
        message_ids: vec![p.message_id.to_string()],
        open_key,
        last_message_at: now,
        sealed_at: sealed.then_some(now),
        duplicate_of,
        now,
    }
}

async fn finish_new<C: Tx>(
    c: &mut C,
    p: &Prepared,
    new: &NewComplaint,
    message_id: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    store_attachments(c, p, &new.id, message_id, now).await?;
    c.set_inbound_complaint(message_id, &new.id, now).await?;
    Ok(())
}

async fn store_attachments<C: Tx>(
    c: &mut C,
    p: &Prepared,
    complaint_id: &str,
    message_id: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    for a in &p.message.attachments {
        c.insert_attachment(
            &NewAttachment {
                id: AttachmentId::new().to_string(),
                complaint_id: complaint_id.to_owned(),
                message_id: message_id.to_owned(),
                provider_ref: a.provider_ref.clone(),
                mime: a.mime.clone(),
                size: a.size.and_then(|s| i64::try_from(s).ok()),
                sha256: a.sha256.clone(),
                filename: a.filename.clone(),
                caption: a.caption.clone(),
            },
            now,
        )
        .await?;
    }
    Ok(())
}

/// An edited message: its text takes the place of the text it edited in
/// that message's complaint, and both stay stored. `None` when the edited
/// message joined no complaint: it is then taken as a new message.
async fn edit<C: Tx>(
    c: &mut C,
    p: &Prepared,
    s: &IntakeSettings,
    now: DateTime<Utc>,
) -> Result<Option<Outcome>> {
    let Some(original) = p.message.replaces.as_deref() else {
        return Ok(None);
    };
    let Some((_, Some(complaint_id))) = c.find_inbound(&p.message.channel_name, original).await?
    else {
        return Ok(None);
    };
    let Some(mut target) = c.complaint(&complaint_id).await? else {
        return Ok(None);
    };
    let message_id = p.message_id.to_string();
    c.set_inbound_complaint(&message_id, &target.id, now)
        .await?;
    let stored = c.inbound_for_complaint(&target.id).await?;
    let texts = texts_with_edits(
        stored
            .iter()
            .filter_map(|r| serde_json::from_str::<InboundMessage>(&r.message.0).ok()),
    );
    set_body(&mut target, &texts);
    target.message_ids.0.push(message_id.clone());
    save_content(c, &target, &s.sinks, now).await?;
    Ok(Some(joined(message_id, &target, false)))
}

/// Sets a complaint's text from its messages' texts, in order, with the
/// title and duplicate key that follow from it.
pub(crate) fn set_body(row: &mut ComplaintRow, texts: &[String]) {
    let parts: Vec<&str> = texts.iter().map(String::as_str).collect();
    row.body = normalize::join_fragments(&parts);
    row.title = normalize::derive_title(&row.body);
    row.content_key = normalize::content_key(&row.body);
}

/// Stores a complaint's changed content; a sealed one is announced as
/// `complaint.updated`.
pub(crate) async fn save_content<C: Tx>(
    c: &mut C,
    row: &ComplaintRow,
    sinks: &[String],
    now: DateTime<Utc>,
) -> Result<()> {
    c.update_complaint_content(row, now).await?;
    if row.sealed_at.is_some() {
        outbox::emit(c, &row.id, crate::record::EventType::Updated, now, sinks).await?;
    }
    Ok(())
}

/// The cleaned texts of a complaint's messages, in order, each edited one
/// replaced by its latest edit; messages that steer the conversation are
/// left out.
pub fn texts_with_edits(messages: impl IntoIterator<Item = InboundMessage>) -> Vec<String> {
    let mut texts: Vec<(String, String)> = Vec::new();
    for m in messages {
        if m.control.is_some() {
            continue;
        }
        let text = normalize::clean_text(&m.text);
        let id = m.replaces.unwrap_or(m.provider_message_id);
        match texts.iter_mut().find(|(known, _)| *known == id) {
            Some(slot) => slot.1 = text,
            None => texts.push((id, text)),
        }
    }
    texts.into_iter().map(|(_, text)| text).collect()
}

/// Adds a message's text, location and attachments to a complaint.
async fn append<C: Tx>(
    c: &mut C,
    mut target: ComplaintRow,
    p: &Prepared,
    message_id: &str,
    now: DateTime<Utc>,
) -> Result<ComplaintRow> {
    target.body = normalize::join_fragments(&[target.body.as_str(), p.text.as_str()]);
    // A mail's title is its subject; a chat's follows what was written.
    if p.message.subject.is_none() {
        target.title = normalize::derive_title(&target.body);
    }
    target.content_key = normalize::content_key(&target.body);
    if let Some(loc) = &p.message.location {
        target.location = Some(sqlx::types::Json(Location::clone(loc)));
    }
    target.message_ids.0.push(message_id.to_owned());
    target.last_message_at = now;
    c.update_complaint_content(&target, now).await?;
    store_attachments(c, p, &target.id, message_id, now).await?;
    c.set_inbound_complaint(message_id, &target.id, now).await?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sms(from: &str) -> InboundMessage {
        let reporter = salur_channels_core::Reporter {
            handle: format!("sms:{from}"),
            phone: Some(from.into()),
            ..Default::default()
        };
        InboundMessage {
            text: "  Jalan   rusak\r\n".into(),
            ..InboundMessage::new(
                ChannelKind::Sms,
                "sms".into(),
                "1".into(),
                reporter,
                Utc::now(),
                bytes::Bytes::new(),
                "application/json".into(),
            )
        }
    }

    #[test]
    fn sms_numbers_in_any_form_are_one_handle() {
        let a = Prepared::new(sms("081234567890"), true, "ID");
        let b = Prepared::new(sms("6281234567890"), true, "ID");
        let c = Prepared::new(sms("+62 812-3456-7890"), true, "ID");
        assert_eq!(a.handle, "sms:+6281234567890");
        assert_eq!(a.handle, b.handle);
        assert_eq!(a.handle, c.handle);
        assert_eq!(a.text, "Jalan rusak");
    }

    #[test]
    fn alphanumeric_senders_keep_their_handle() {
        let p = Prepared::new(sms("TELKOMSEL"), true, "ID");
        assert_eq!(p.handle, "sms:TELKOMSEL");
        assert!(p.phone.is_none());
    }
}
