//! Duplicate detection.
//!
//! - Tier 1, transport replays, lives in the database: the claim of
//!   (channel instance, provider id) in [`crate::intake`].
//! - Tier 2 is here: the same reporter with the same normalised content
//!   within the window (7 days by default), on any channel. Reporters are
//!   the same when their identities were linked, or when they share a phone
//!   number or an email address.

use crate::store::{ComplaintRow, Result, StoreError, Tx};

/// The earliest complaint `c` repeats, if any.
///
/// # Errors
/// Database errors.
pub async fn same_reporter_same_content<C: Tx>(
    c: &mut C,
    complaint: &ComplaintRow,
    window: chrono::Duration,
) -> Result<Option<String>> {
    let reporter = c
        .reporter(&complaint.reporter_id)
        .await?
        .ok_or_else(|| StoreError::Op("complaint without reporter".into()))?;
    let since = complaint.received_at - window;
    Ok(
        c.same_content(&complaint.content_key, since, &complaint.id, &reporter)
            .await?
            .map(|(id, _)| id),
    )
}
