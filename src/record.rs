//! The complaint record and queue event, as the API and sinks show them.
//!
//! Field names are the external contract (DESIGN.md). The LAPOR! names are
//! in the field docs.

use chrono::{DateTime, Utc};
use salur_channels_core::Location;
use serde::{Deserialize, Serialize};

/// Lifecycle state of a complaint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Received, not yet reviewed.
    New,
    /// An admin is reviewing it.
    InReview,
    /// Sent on to the responsible agency.
    Forwarded,
    /// Same reporter, same content as an earlier complaint.
    Duplicate,
    /// Refused by an admin.
    Rejected,
    /// Finished.
    Closed,
}

impl Status {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::InReview => "in_review",
            Self::Forwarded => "forwarded",
            Self::Duplicate => "duplicate",
            Self::Rejected => "rejected",
            Self::Closed => "closed",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "new" => Self::New,
            "in_review" => Self::InReview,
            "forwarded" => Self::Forwarded,
            "duplicate" => Self::Duplicate,
            "rejected" => Self::Rejected,
            "closed" => Self::Closed,
            _ => return None,
        })
    }
}

/// LAPOR! classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    /// Pengaduan: something is wrong and should be fixed.
    #[default]
    Complaint,
    /// Aspirasi: a suggestion or a request for something new.
    Aspiration,
    /// Permintaan Informasi: a question.
    InformationRequest,
}

impl Classification {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Complaint => "complaint",
            Self::Aspiration => "aspiration",
            Self::InformationRequest => "information_request",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "complaint" => Self::Complaint,
            "aspiration" => Self::Aspiration,
            "information_request" => Self::InformationRequest,
            _ => return None,
        })
    }
}

/// The reporter as the record carries it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReporterView {
    /// Display name.
    pub name: Option<String>,
    /// Phone number in E.164.
    pub phone: Option<String>,
    /// Lower-cased email address.
    pub email: Option<String>,
    /// Channel identity, e.g. `telegram:123`.
    pub handle: String,
}

/// Attachment metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttachmentView {
    /// `att_…` id.
    pub id: String,
    /// MIME type.
    pub mime: Option<String>,
    /// Size in bytes, once known.
    pub size: Option<i64>,
    /// Hex sha256 of the stored content, once stored.
    pub sha256: Option<String>,
    /// Original file name.
    pub filename: Option<String>,
    /// `pending`, `stored` or `missing`.
    pub state: String,
}

/// A near-duplicate suggestion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Related {
    /// The other complaint's id.
    pub id: String,
    /// Similarity, 0 to 1.
    pub score: f64,
    /// Why they look related.
    pub reason: String,
}

/// One complaint, as the API and queue events carry it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Complaint {
    /// `cmp_…` prefixed ULID.
    pub id: String,
    /// Short code given to the citizen.
    pub tracking_code: String,
    /// Lifecycle state.
    pub status: Status,
    /// [Pengaduan | Aspirasi | Permintaan Informasi]
    pub classification: Classification,
    /// Derived summary [judul].
    pub title: String,
    /// Cleaned text [isi laporan].
    pub body: String,
    /// Category id from the routing rules [kategori].
    pub category: Option<String>,
    /// Agency id from the routing rules [instansi tujuan].
    pub agency: Option<String>,
    /// Where it happened [lokasi kejadian].
    pub location: Option<Location>,
    /// When the citizen says it happened [tanggal kejadian].
    pub occurred_at: Option<DateTime<Utc>>,
    /// The first message's arrival.
    pub received_at: DateTime<Utc>,
    /// Channel kind.
    pub channel: String,
    /// Channel instance name.
    pub channel_name: String,
    /// Who reported it.
    pub reporter: ReporterView,
    /// Who passed it on, when an agency forwarded a citizen's message: the
    /// citizen is the reporter.
    #[serde(default)]
    pub forwarded_by: Option<ReporterView>,
    /// Identity hidden from the agency [anonim].
    pub anonymous: bool,
    /// Not public [rahasia].
    pub confidential: bool,
    /// Files.
    pub attachments: Vec<AttachmentView>,
    /// The inbound messages it was built from.
    pub message_ids: Vec<String>,
    /// The earlier complaint this one repeats.
    pub duplicate_of: Option<String>,
    /// Near-duplicate suggestions.
    pub related: Vec<Related>,
    /// `false` while chat fragments may still join it.
    pub sealed: bool,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Queue event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    /// A complaint was sealed and is ready for review.
    #[serde(rename = "complaint.created")]
    Created,
    /// A sealed complaint received more content or was re-normalised.
    #[serde(rename = "complaint.updated")]
    Updated,
    /// A complaint was merged into another.
    #[serde(rename = "complaint.merged")]
    Merged,
    /// A complaint's status changed.
    #[serde(rename = "complaint.status_changed")]
    StatusChanged,
}

impl EventType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "complaint.created",
            Self::Updated => "complaint.updated",
            Self::Merged => "complaint.merged",
            Self::StatusChanged => "complaint.status_changed",
        }
    }
}

/// A queue event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// `evt_…` id: the idempotency key downstream.
    pub id: String,
    /// What happened.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// The complaint after the change.
    pub complaint: Complaint,
}
