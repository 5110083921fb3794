//! Long messages that arrive in pieces (Vonage's concatenated SMS).
//!
//! Every piece is claimed and stored as a message of its own, so each is
//! acknowledged to the provider, deduplicated on its provider id and kept
//! with its raw payload. Processing then records the piece in
//! `message_parts` and waits: once every position of the group is present,
//! the texts are joined in order and the whole goes through intake as one
//! message. A group whose first piece was taken in longer ago than the
//! part timeout is joined with what it has by the sealer, a marker standing
//! in for each missing piece, so nothing received is held back for ever. A
//! piece that comes after its group was joined is appended to the group's
//! complaint.
//!
//! Everything lives in the database, so a restart between pieces loses
//! nothing, and on PostgreSQL the group's rows serialise concurrent workers.

use chrono::{DateTime, Utc};
use salur_channels_core::InboundMessage;

use super::{IntakeSettings, Outcome, Prepared, add_to, process};
use crate::domain::MessageId;
use crate::store::{NewPart, PartGroup, PartRow, Result, StoreError, Tx};

/// Most overdue groups joined in one processing round.
const FLUSH_BATCH: i64 = 50;

/// Takes one stored piece. Returns the outcome when the piece completed
/// its group (or joined a complaint made from it), `None` while the group
/// waits or when the piece repeats a position already held.
pub(super) async fn take<C: Tx>(
    c: &mut C,
    p: &Prepared,
    s: &IntakeSettings,
    now: DateTime<Utc>,
) -> Result<Option<Outcome>> {
    let Some(part) = &p.message.part else {
        return Err(StoreError::Op("not a piece of a long message".into()));
    };
    let group = PartGroup {
        channel_name: p.message.channel_name.clone(),
        reporter_handle: p.handle.clone(),
        group_ref: part.group.clone(),
    };
    let message_id = p.message_id.to_string();
    let fresh = c
        .insert_part(&NewPart {
            group: group.clone(),
            index: i32::from(part.index),
            total: i32::from(part.total),
            message_id: message_id.clone(),
            taken_at: now,
        })
        .await?;
    if !fresh {
        // A second copy of a position: the first copy's text is used. The
        // copy stays stored, processed, linked to nothing.
        c.set_inbound_processed(&message_id, now).await?;
        return Ok(None);
    }
    let rows = c.group_parts(&group).await?;
    if let Some(done) = rows.iter().find_map(|r| r.complaint_id.clone()) {
        // A piece after its group was joined: added to the group's complaint.
        let target = c
            .complaint(&done)
            .await?
            .ok_or_else(|| StoreError::Op("complaint vanished".into()))?;
        c.set_group_complaint(&group, &done).await?;
        return add_to(c, target, p, s, now).await.map(Some);
    }
    if complete(&rows) {
        return join(c, &group, &rows, s, now).await.map(Some);
    }
    c.set_inbound_processed(&message_id, now).await?;
    Ok(None)
}

/// Joins every group that waited longer than the part timeout. Returns
/// each joined group with what intake made of it.
pub(super) async fn flush_overdue<C: Tx>(
    c: &mut C,
    s: &IntakeSettings,
    now: DateTime<Utc>,
) -> Result<Vec<(PartGroup, Outcome)>> {
    let groups = c.overdue_groups(now - s.part_timeout, FLUSH_BATCH).await?;
    let mut joined = Vec::new();
    for group in groups {
        let rows = c.group_parts(&group).await?;
        if rows.is_empty() || rows.iter().any(|r| r.complaint_id.is_some()) {
            continue;
        }
        let outcome = join(c, &group, &rows, s, now).await?;
        joined.push((group, outcome));
    }
    Ok(joined)
}

/// The number of pieces the group should have: the largest total any piece
/// declared, so one piece with a wrong total cannot close the group early.
fn expected(rows: &[PartRow]) -> i32 {
    rows.iter().map(|r| r.total).max().unwrap_or(0)
}

fn complete(rows: &[PartRow]) -> bool {
    let total = expected(rows);
    total > 0 && (1..=total).all(|i| rows.iter().any(|r| r.index == i))
}

/// Joins the pieces present into one message and runs it through intake.
async fn join<C: Tx>(
    c: &mut C,
    group: &PartGroup,
    rows: &[PartRow],
    s: &IntakeSettings,
    now: DateTime<Utc>,
) -> Result<Outcome> {
    let total = expected(rows);
    let mut pieces: Vec<(i32, String, InboundMessage)> = Vec::with_capacity(rows.len());
    for r in rows {
        let stored = c
            .inbound(&r.message_id)
            .await?
            .ok_or_else(|| StoreError::Op(format!("piece {} vanished", r.message_id)))?;
        let mut message: InboundMessage = serde_json::from_str(&stored.message.0)
            .map_err(|e| StoreError::Op(format!("stored piece unreadable: {e}")))?;
        message.raw = bytes::Bytes::from(stored.raw_payload);
        pieces.push((r.index, r.message_id.clone(), message));
    }
    let missing: Vec<i32> = (1..=total)
        .filter(|i| !rows.iter().any(|r| r.index == *i))
        .collect();
    if !missing.is_empty() {
        tracing::warn!(
            channel = %group.channel_name,
            received = rows.len(),
            total,
            "a long message is joined with pieces missing after the part timeout"
        );
    }
    let text = joined_text(&pieces, total);
    let (_, first_id, first) = pieces
        .first()
        .ok_or_else(|| StoreError::Op("a group without pieces".into()))?;
    let mut whole = first.clone();
    whole.text = text;
    whole.part = None;
    whole.received_at = pieces
        .iter()
        .map(|(_, _, m)| m.received_at)
        .min()
        .unwrap_or(whole.received_at);
    whole.attachments = pieces
        .iter()
        .flat_map(|(_, _, m)| m.attachments.iter().cloned())
        .collect();
    let assemble = s.assembles(&group.channel_name);
    let mut p = Prepared::new(whole, assemble, &s.default_region);
    p.message_id = MessageId::parse(first_id).map_err(|e| StoreError::Op(e.to_string()))?;
    let outcome = process(c, &p, s, now).await?;
    let complaint_id = outcome
        .complaint_id
        .clone()
        .ok_or_else(|| StoreError::Op("a joined long message made no complaint".into()))?;
    let others: Vec<&str> = pieces
        .iter()
        .skip(1)
        .map(|(_, id, _)| id.as_str())
        .collect();
    link(c, &complaint_id, &others, now).await?;
    c.set_group_complaint(group, &complaint_id).await?;
    Ok(outcome)
}

/// The pieces' texts in order, as sent: a long SMS is cut at a fixed
/// length, often inside a word, so nothing is put between pieces. A missing
/// piece leaves a marker an admin can see.
fn joined_text(pieces: &[(i32, String, InboundMessage)], total: i32) -> String {
    let mut text = String::new();
    for i in 1..=total {
        match pieces.iter().find(|(index, _, _)| *index == i) {
            Some((_, _, m)) => text.push_str(&m.text),
            None => {
                text.push_str(&format!(" [bagian {i} dari {total} tidak diterima] "));
            }
        }
    }
    text
}

/// Links further stored messages to a complaint they were joined into.
async fn link<C: Tx>(
    c: &mut C,
    complaint_id: &str,
    ids: &[&str],
    now: DateTime<Utc>,
) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut target = c
        .complaint(complaint_id)
        .await?
        .ok_or_else(|| StoreError::Op("complaint vanished".into()))?;
    target
        .message_ids
        .0
        .extend(ids.iter().map(|id| (*id).to_owned()));
    c.update_complaint_content(&target, now).await?;
    for id in ids {
        c.set_inbound_complaint(id, complaint_id, now).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(index: i32, total: i32) -> PartRow {
        PartRow {
            index,
            total,
            message_id: format!("msg_{index}"),
            complaint_id: None,
        }
    }

    #[test]
    fn a_group_is_complete_when_every_position_is_held() {
        assert!(complete(&[row(2, 2), row(1, 2)]));
        assert!(!complete(&[row(1, 3), row(3, 3)]));
        assert!(!complete(&[]));
        // A piece claiming a larger total keeps the group open.
        assert!(!complete(&[row(1, 2), row(2, 3)]));
    }
}
