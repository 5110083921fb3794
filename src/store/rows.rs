//! Row types shared by both backends.

use chrono::{DateTime, Utc};
use salur_channels_core::Location;
use sqlx::types::Json;

use crate::record::{AttachmentView, Related, ReporterView};

use super::Result;
use super::exec::{FromRecord, JsonText, Record};

/// Implements [`FromRecord`] by position: the columns come in the order
/// the fields are listed, which every `SELECT` of the type follows.
macro_rules! by_position {
    ($t:ident { $($f:ident),+ $(,)? }) => {
        impl FromRecord for $t {
            #[allow(unused_assignments)]
            fn from_record<R: Record>(r: &R) -> Result<Self> {
                let mut i = 0;
                Ok(Self {
                    $($f: {
                        let v = r.get(i)?;
                        i += 1;
                        v
                    },)+
                })
            }
        }
    };
}

/// An inbound message to claim.
#[derive(Debug, Clone)]
pub struct NewInbound {
    /// `msg_…` id.
    pub id: String,
    /// Channel kind.
    pub channel: String,
    /// Channel instance.
    pub channel_name: String,
    /// Provider's id: the idempotency key within the instance.
    pub provider_message_id: String,
    /// Reporter handle as the channel gave it.
    pub reporter_handle: String,
    /// Arrival time.
    pub received_at: DateTime<Utc>,
    /// Raw payload content type.
    pub raw_content_type: String,
    /// Raw payload.
    pub raw_payload: Vec<u8>,
    /// The parsed message, as JSON.
    pub message: String,
}

/// A stored inbound message, for re-processing.
#[derive(Debug, Clone)]
pub struct InboundRow {
    /// `msg_…` id.
    pub id: String,
    /// Channel kind.
    pub channel: String,
    /// Channel instance.
    pub channel_name: String,
    /// Provider's id.
    pub provider_message_id: String,
    /// Raw payload content type.
    pub raw_content_type: String,
    /// Raw payload.
    pub raw_payload: Vec<u8>,
    /// The message as parsed when it arrived.
    pub message: JsonText,
    /// The complaint it joined.
    pub complaint_id: Option<String>,
    /// Arrival time.
    pub received_at: DateTime<Utc>,
}

/// An inbound message as the API shows it (without its payload).
#[derive(Debug, Clone, serde::Serialize)]
pub struct InboundView {
    /// `msg_…` id.
    pub id: String,
    /// Channel kind.
    pub channel: String,
    /// Channel instance.
    pub channel_name: String,
    /// Provider's id.
    pub provider_message_id: String,
    /// Arrival time.
    pub received_at: DateTime<Utc>,
    /// When it was committed.
    pub stored_at: DateTime<Utc>,
    /// The complaint it joined, once processed.
    pub complaint_id: Option<String>,
    /// When it was processed.
    pub processed_at: Option<DateTime<Utc>>,
    /// Why processing failed, if it did.
    pub error: Option<String>,
}

/// A reporter row.
#[derive(Debug, Clone)]
pub struct ReporterRow {
    /// `rep_…` id.
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// E.164 phone.
    pub phone: Option<String>,
    /// Lower-cased email.
    pub email: Option<String>,
}

/// A complaint to insert.
#[derive(Debug, Clone)]
pub struct NewComplaint {
    /// `cmp_…` id.
    pub id: String,
    /// Tracking code.
    pub tracking_code: String,
    /// Status name.
    pub status: String,
    /// Classification name.
    pub classification: String,
    /// Derived title.
    pub title: String,
    /// Cleaned body.
    pub body: String,
    /// Duplicate-detection key of the body.
    pub content_key: String,
    /// Category id.
    pub category: Option<String>,
    /// Agency id.
    pub agency: Option<String>,
    /// Location.
    pub location: Option<Location>,
    /// When it happened.
    pub occurred_at: Option<DateTime<Utc>>,
    /// First message's arrival.
    pub received_at: DateTime<Utc>,
    /// Channel kind.
    pub channel: String,
    /// Channel instance.
    pub channel_name: String,
    /// Reporter id.
    pub reporter_id: String,
    /// Reporter snapshot.
    pub reporter: ReporterView,
    /// Who forwarded it, when an agency passed a citizen's message on.
    pub forwarded_by: Option<ReporterView>,
    /// Anonymous flag.
    pub anonymous: bool,
    /// Confidential flag.
    pub confidential: bool,
    /// Message ids.
    pub message_ids: Vec<String>,
    /// Open-assembly key, `None` when sealed at once.
    pub open_key: Option<String>,
    /// Last fragment time.
    pub last_message_at: DateTime<Utc>,
    /// Seal time, when sealed at once.
    pub sealed_at: Option<DateTime<Utc>>,
    /// Duplicate of, when known at creation.
    pub duplicate_of: Option<String>,
    /// Creation time.
    pub now: DateTime<Utc>,
}

/// A complaint row.
#[derive(Debug, Clone)]
pub struct ComplaintRow {
    /// `cmp_…` id.
    pub id: String,
    /// Tracking code.
    pub tracking_code: String,
    /// Status name.
    pub status: String,
    /// Classification name.
    pub classification: String,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Duplicate-detection key.
    pub content_key: String,
    /// Category id.
    pub category: Option<String>,
    /// Agency id.
    pub agency: Option<String>,
    /// Location.
    pub location: Option<Json<Location>>,
    /// When it happened.
    pub occurred_at: Option<DateTime<Utc>>,
    /// First arrival.
    pub received_at: DateTime<Utc>,
    /// Channel kind.
    pub channel: String,
    /// Channel instance.
    pub channel_name: String,
    /// Reporter id.
    pub reporter_id: String,
    /// Reporter snapshot.
    pub reporter: Json<ReporterView>,
    /// Who forwarded it.
    pub forwarded_by: Option<Json<ReporterView>>,
    /// Anonymous flag.
    pub anonymous: bool,
    /// Confidential flag.
    pub confidential: bool,
    /// Earlier complaint this repeats.
    pub duplicate_of: Option<String>,
    /// Near-duplicates.
    pub related: Json<Vec<Related>>,
    /// Message ids.
    pub message_ids: Json<Vec<String>>,
    /// Open-assembly key.
    pub open_key: Option<String>,
    /// Last fragment time.
    pub last_message_at: DateTime<Utc>,
    /// Seal time.
    pub sealed_at: Option<DateTime<Utc>>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// An attachment to insert.
#[derive(Debug, Clone)]
pub struct NewAttachment {
    /// `att_…` id.
    pub id: String,
    /// Complaint id.
    pub complaint_id: String,
    /// Message id.
    pub message_id: String,
    /// Provider reference.
    pub provider_ref: String,
    /// MIME type.
    pub mime: Option<String>,
    /// Size, when known.
    pub size: Option<i64>,
    /// Provider-stated sha256.
    pub sha256: Option<String>,
    /// File name.
    pub filename: Option<String>,
    /// Caption.
    pub caption: Option<String>,
}

/// An attachment row with its complaint.
#[derive(Debug, Clone)]
pub struct AttachmentRow {
    /// Complaint id.
    pub complaint_id: String,
    /// `att_…` id.
    pub id: String,
    /// MIME type.
    pub mime: Option<String>,
    /// Size.
    pub size: Option<i64>,
    /// sha256.
    pub sha256: Option<String>,
    /// File name.
    pub filename: Option<String>,
    /// State.
    pub state: String,
}

impl From<AttachmentRow> for AttachmentView {
    fn from(r: AttachmentRow) -> Self {
        Self {
            id: r.id,
            mime: r.mime,
            size: r.size,
            sha256: r.sha256,
            filename: r.filename,
            state: r.state,
        }
    }
}

/// A delivery claimed by a dispatcher, with its event.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    /// `dlv_…` id.
    pub id: String,
    /// Event id.
    pub event_id: String,
    /// Sink name.
    pub sink: String,
    /// Attempts made before this one.
    pub attempts: i32,
    /// Event type.
    pub event_type: String,
    /// Agency for routing the subject.
    pub agency: Option<String>,
    /// Event time.
    pub occurred_at: DateTime<Utc>,
    /// Event JSON.
    pub payload: String,
}

/// A delivery row, as the API lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeliveryRow {
    /// `dlv_…` id.
    pub id: String,
    /// Event id.
    pub event_id: String,
    /// Sink name.
    pub sink: String,
    /// `pending`, `delivered` or `dead`.
    pub state: String,
    /// Attempts made.
    pub attempts: i32,
    /// Next try.
    pub next_attempt_at: DateTime<Utc>,
    /// Last error.
    pub last_error: Option<String>,
    /// When it succeeded.
    pub delivered_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A quarantined input to insert.
#[derive(Debug, Clone)]
pub struct NewQuarantine {
    /// `qua_…` id.
    pub id: String,
    /// Channel instance.
    pub channel_name: String,
    /// Where it came from (`webhook`, `imap`, `intake`).
    pub source: String,
    /// Why it failed.
    pub error: String,
    /// Raw content type.
    pub raw_content_type: String,
    /// Raw bytes.
    pub raw_payload: Vec<u8>,
    /// The inbound message, when one was stored.
    pub message_id: Option<String>,
    /// Time.
    pub now: DateTime<Utc>,
}

/// Filters for listing complaints.
#[derive(Debug, Clone, Default)]
pub struct ComplaintFilter {
    /// Status name.
    pub status: Option<String>,
    /// Agency id (`_unrouted` for none).
    pub agency: Option<String>,
    /// Channel instance.
    pub channel_name: Option<String>,
    /// Tracking code.
    pub tracking_code: Option<String>,
    /// Received at or after.
    pub since: Option<DateTime<Utc>>,
    /// Ids strictly below this (cursor; newest first).
    pub before_id: Option<String>,
    /// Page size.
    pub limit: i64,
}

impl ComplaintRow {
    /// The record as the API and events show it.
    pub fn into_record(self, attachments: Vec<AttachmentRow>) -> crate::record::Complaint {
        use crate::record::{Classification, Complaint, Status};
        Complaint {
            id: self.id,
            tracking_code: self.tracking_code,
            status: Status::parse(&self.status).unwrap_or(Status::New),
            classification: Classification::parse(&self.classification).unwrap_or_default(),
            title: self.title,
            body: self.body,
            category: self.category,
            agency: self.agency,
            location: self.location.map(|l| l.0),
            occurred_at: self.occurred_at,
            received_at: self.received_at,
            channel: self.channel,
            channel_name: self.channel_name,
            reporter: self.reporter.0,
            forwarded_by: self.forwarded_by.map(|f| f.0),
            anonymous: self.anonymous,
            confidential: self.confidential,
            attachments: attachments.into_iter().map(Into::into).collect(),
            message_ids: self.message_ids.0,
            duplicate_of: self.duplicate_of,
            related: self.related.0,
            sealed: self.sealed_at.is_some(),
            updated_at: self.updated_at,
        }
    }
}

by_position!(InboundRow {
    id,
    channel,
    channel_name,
    provider_message_id,
    raw_content_type,
    raw_payload,
    message,
    complaint_id,
    received_at
});
by_position!(InboundView {
    id,
    channel,
    channel_name,
    provider_message_id,
    received_at,
    stored_at,
    complaint_id,
    processed_at,
    error
});
by_position!(ReporterRow {
    id,
    name,
    phone,
    email
});
by_position!(ComplaintRow {
    id,
    tracking_code,
    status,
    classification,
    title,
    body,
    content_key,
    category,
    agency,
    location,
    occurred_at,
    received_at,
    channel,
    channel_name,
    reporter_id,
    reporter,
    anonymous,
    confidential,
    duplicate_of,
    related,
    message_ids,
    open_key,
    last_message_at,
    sealed_at,
    updated_at,
    forwarded_by
});
by_position!(AttachmentRow {
    complaint_id,
    id,
    mime,
    size,
    sha256,
    filename,
    state
});
by_position!(ClaimedDelivery {
    id,
    event_id,
    sink,
    attempts,
    event_type,
    agency,
    occurred_at,
    payload
});
by_position!(DeliveryRow {
    id,
    event_id,
    sink,
    state,
    attempts,
    next_attempt_at,
    last_error,
    delivered_at,
    created_at
});

/// The pieces of one long message from one sender on one channel instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartGroup {
    /// Channel instance.
    pub channel_name: String,
    /// The sender's handle.
    pub reporter_handle: String,
    /// The provider's reference for the long message.
    pub group_ref: String,
}

by_position!(PartGroup {
    channel_name,
    reporter_handle,
    group_ref
});

/// A piece of a long message to record.
#[derive(Debug, Clone)]
pub struct NewPart {
    /// The long message it belongs to.
    pub group: PartGroup,
    /// Position, from 1.
    pub index: i32,
    /// How many pieces the long message has.
    pub total: i32,
    /// The stored message holding the piece.
    pub message_id: String,
    /// When intake took the piece in: the part timeout counts from here,
    /// not from the provider's timestamp, which a retried delivery keeps.
    pub taken_at: DateTime<Utc>,
}

/// A recorded piece.
#[derive(Debug, Clone)]
pub struct PartRow {
    /// Position, from 1.
    pub index: i32,
    /// How many pieces the sender said there are.
    pub total: i32,
    /// The stored message holding the piece.
    pub message_id: String,
    /// The complaint the group was joined into, once it was.
    pub complaint_id: Option<String>,
}

by_position!(PartRow {
    index,
    total,
    message_id,
    complaint_id
});

/// A reply to queue.
#[derive(Debug, Clone)]
pub struct NewOutbound {
    /// `out_…` id.
    pub id: String,
    /// The complaint it is about; `None` for a dialogue step about none
    /// (the answer to `/start`).
    pub complaint_id: Option<String>,
    /// The channel instance to send through.
    pub channel_name: String,
    /// The citizen's handle on that channel.
    pub recipient: String,
    /// `acknowledgement`, `status_notice` or `prompt`.
    pub kind: String,
    /// The text.
    pub body: String,
    /// The tracking code it gives.
    pub tracking_code: Option<String>,
    /// `pending`, or `suppressed` when the per-number limit holds it back.
    pub state: String,
    /// Buttons, an edit, a tap answer (JSON), when asked for.
    pub presentation: Option<String>,
    /// Now.
    pub now: DateTime<Utc>,
}

/// An attachment whose file is due for download.
#[derive(Debug, Clone)]
pub struct AttachmentJob {
    /// `att_…` id.
    pub id: String,
    /// The provider's reference: a media id, or a URL.
    pub provider_ref: String,
    /// The sha256 the provider stated, when it did.
    pub sha256: Option<String>,
    /// Attempts so far.
    pub attempts: i32,
    /// The channel instance its message came through.
    pub channel_name: String,
}

by_position!(AttachmentJob {
    id,
    provider_ref,
    sha256,
    attempts,
    channel_name
});

/// A queued or sent reply.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OutboundRow {
    /// `out_…` id.
    pub id: String,
    /// The channel instance.
    pub channel_name: String,
    /// The citizen's handle.
    pub recipient: String,
    /// `acknowledgement`, `status_notice` or `prompt`.
    pub kind: String,
    /// The text.
    pub body: String,
    /// The tracking code it gives.
    pub tracking_code: Option<String>,
    /// `pending`, `sent`, `dead` or `suppressed`.
    pub state: String,
    /// Attempts so far.
    pub attempts: i32,
    /// The provider's id, once sent.
    pub provider_message_id: Option<String>,
    /// The last failure.
    pub last_error: Option<String>,
    /// When the citizen last wrote about the complaint: channels with a
    /// reply window (WhatsApp's 24 hours) choose how to send by it.
    pub last_inbound_at: Option<DateTime<Utc>>,
    /// How it is shown, beyond its text.
    pub presentation: Option<Json<salur_channels_core::Presentation>>,
    /// The provider id of the complaint's first message, which channels
    /// that thread (email) answer.
    pub thread: Option<String>,
}

by_position!(OutboundRow {
    id,
    channel_name,
    recipient,
    kind,
    body,
    tracking_code,
    state,
    attempts,
    provider_message_id,
    last_error,
    last_inbound_at,
    presentation,
    thread
});

/// Where a citizen is in a guided conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialogueRow {
    /// The channel instance.
    pub channel_name: String,
    /// The citizen's handle there.
    pub handle: String,
    /// The step the conversation is at.
    pub step: String,
    /// The complaint the steps are about.
    pub complaint_id: Option<String>,
    /// The language the citizen is answered in.
    pub language: String,
    /// The language the citizen chose themselves, over their app's.
    pub chosen_language: Option<String>,
}

by_position!(DialogueRow {
    channel_name,
    handle,
    step,
    complaint_id,
    language,
    chosen_language
});
