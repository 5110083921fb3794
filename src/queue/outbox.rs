//! The outbox: events written in the same transaction as the change they
//! describe, with one pending delivery per sink.

use chrono::{DateTime, Utc};

use crate::domain::{DeliveryId, EventId};
use crate::record::{Complaint, Event, EventType};
use crate::store::{Result, StoreError, Tx};

/// Loads a complaint as the API and events show it.
///
/// # Errors
/// Database errors.
pub async fn load_complaint<C: Tx>(c: &mut C, id: &str) -> Result<Option<Complaint>> {
    let Some(row) = c.complaint(id).await? else {
        return Ok(None);
    };
    let attachments = c.attachments(id).await?;
    Ok(Some(row.into_record(attachments)))
}

/// Writes an event about complaint `complaint_id` and a delivery per sink.
///
/// # Errors
/// Database errors.
pub async fn emit<C: Tx>(
    c: &mut C,
    complaint_id: &str,
    event_type: EventType,
    now: DateTime<Utc>,
    sinks: &[String],
) -> Result<String> {
    let complaint = load_complaint(c, complaint_id)
        .await?
        .ok_or_else(|| StoreError::Op("event for a missing complaint".into()))?;
    let agency = complaint.agency.clone();
    let event = Event {
        id: EventId::new().to_string(),
        event_type,
        occurred_at: now,
        complaint,
    };
    let payload = serde_json::to_string(&event).map_err(|e| StoreError::Op(e.to_string()))?;
    c.insert_event(
        &event.id,
        event_type.as_str(),
        complaint_id,
        agency.as_deref(),
        now,
        &payload,
    )
    .await?;
    for sink in sinks {
        c.insert_delivery(DeliveryId::new().as_str(), &event.id, sink, now)
            .await?;
    }
    Ok(event.id)
}
