//! Media files, downloaded after their message is stored.
//!
//! Intake records each attachment as `pending` with the provider's
//! reference. The [`MediaFetcher`] claims due attachments with a lease (like
//! the outbox dispatcher), downloads each on its own through its channel's
//! media source (Meta's Graph API, Telegram's `getFile`), and keeps the file under `intake.media_dir` named by
//! its sha256 (`ab/abcdef…`), so the same file sent twice is kept once. A
//! failed download is retried on the outbox's schedule; after the last try,
//! or at once when retrying cannot help (too large, wrong checksum, a host
//! the channel does not fetch from), the attachment is `missing` with the reason, and
//! `POST /api/v1/attachments/{id}/retry` queues it again. The message and
//! its complaint are never held up by a file.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use std::sync::Arc;

use salur_channels_core::media::{Media, MediaError, MediaSource};
use tokio::sync::watch;

use crate::queue::dispatch::{Leased, Worker};
use crate::store::{AttachmentJob, Op, Result, Tx};

impl Leased for AttachmentJob {
    async fn claim<C: Tx>(
        c: &mut C,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Self>> {
        c.claim_attachments(now, until, limit).await
    }
}

/// Downloads pending attachments of the channels that can fetch media.
pub struct MediaFetcher {
    worker: Worker,
    sources: HashMap<String, Arc<dyn MediaSource>>,
    dir: PathBuf,
    max_bytes: u64,
}

/// What one download came to.
enum Fetched {
    Stored {
        sha256: String,
        size: i64,
        mime: Option<String>,
        path: String,
    },
    Failed {
        attempts: i32,
        next: Option<DateTime<Utc>>,
        error: String,
    },
}

struct Record(Vec<(String, Fetched)>);

impl Op for Record {
    type Output = ();

    async fn run<C: Tx>(&mut self, c: &mut C) -> Result<()> {
        for (id, fetched) in &self.0 {
            match fetched {
                Fetched::Stored {
                    sha256,
                    size,
                    mime,
                    path,
                } => {
                    c.attachment_stored(id, sha256, *size, mime.as_deref(), path)
                        .await?;
                }
                Fetched::Failed {
                    attempts,
                    next,
                    error,
                } => c.attachment_failed(id, *attempts, *next, error).await?,
            }
        }
        Ok(())
    }
}

impl MediaFetcher {
    /// A fetcher over the channels' media sources, by channel name.
    pub fn new(
        worker: Worker,
        sources: HashMap<String, Arc<dyn MediaSource>>,
        dir: PathBuf,
        max_bytes: u64,
    ) -> Self {
        Self {
            worker,
            sources,
            dir,
            max_bytes,
        }
    }

    /// Runs rounds until `shutdown` fires; the round in progress finishes.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        self.worker.run("media", || self.round(), shutdown).await;
    }

    /// Claims and downloads one batch. Returns how many it handled.
    ///
    /// # Errors
    /// Database errors.
    pub async fn round(&self) -> Result<usize> {
        self.worker.round(|a| self.fetch(a), Record).await
    }

    async fn fetch(&self, a: AttachmentJob) -> (String, Fetched) {
        let attempts = a.attempts.saturating_add(1);
        let result = match self.sources.get(&a.channel_name) {
            None => Err(MediaError::Gone(format!(
                "channel `{}` has no credentials to download media with",
                a.channel_name
            ))),
            Some(source) => {
                source
                    .fetch(&a.provider_ref, a.sha256.as_deref(), self.max_bytes)
                    .await
            }
        };
        let label = format!("media:{}", a.channel_name);
        // A file that could not be written is worth another try.
        let fetched = match result {
            Ok(media) => self.keep(media).await.map_err(|e| (true, e)),
            Err(e) => Err((e.retryable(), e.to_string())),
        };
        let fetched = match fetched {
            Ok(stored) => {
                self.worker.metrics.delivery(&label, "delivered");
                stored
            }
            Err((retryable, error)) => {
                let next = self.worker.next_try(&label, attempts, retryable, None);
                let outcome = if next.is_some() { "retry" } else { "dead" };
                tracing::warn!(attachment = %a.id, channel = %a.channel_name, attempts, %error, "media download failed ({outcome})");
                Fetched::Failed {
                    attempts,
                    next,
                    error,
                }
            }
        };
        (a.id, fetched)
    }

    /// Writes the file under its content address, durably, unless it is
    /// there already.
    async fn keep(&self, media: Media) -> std::result::Result<Fetched, String> {
        let dir = self.dir.clone();
        let sha256 = media.sha256.clone();
        let size = i64::try_from(media.bytes.len()).unwrap_or(i64::MAX);
        let path =
            tokio::task::spawn_blocking(move || write_addressed(&dir, &sha256, &media.bytes))
                .await
                .map_err(|e| format!("the file writer failed: {e}"))??;
        Ok(Fetched::Stored {
            sha256: media.sha256,
            size,
            mime: media.mime,
            path,
        })
    }
}

/// Writes `bytes` to `dir/<first two hex>/<sha256>` through a temporary
/// file, synced before it is renamed into place; returns the path relative
/// to `dir`.
fn write_addressed(dir: &Path, sha256: &str, bytes: &[u8]) -> std::result::Result<String, String> {
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("not a sha256: {sha256}"));
    }
    let relative = format!("{}/{sha256}", &sha256[..2]);
    let target = dir.join(&relative);
    if target.exists() {
        return Ok(relative);
    }
    let parent = target.parent().unwrap_or(dir);
    std::fs::create_dir_all(parent)
        .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    // A name of its own per writer, so two instances fetching the same
    // file never write into one temporary file.
    let tmp = parent.join(format!(
        ".{sha256}.{}.{}.part",
        std::process::id(),
        crate::domain::AttachmentId::new()
    ));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, &target));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("cannot write {}: {e}", target.display()));
    }
    Ok(relative)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_kept_once_under_their_sha256() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sha = "ab".repeat(32);
        let first = write_addressed(dir.path(), &sha, b"photo").expect("first");
        assert_eq!(first, format!("ab/{sha}"));
        let again = write_addressed(dir.path(), &sha, b"ignored").expect("again");
        assert_eq!(again, first);
        assert_eq!(
            std::fs::read(dir.path().join(&first)).expect("read"),
            b"photo"
        );
        assert!(write_addressed(dir.path(), "../../etc/passwd", b"x").is_err());
    }
}
