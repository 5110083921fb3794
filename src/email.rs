//! Email: IMAP mailboxes polled with IDLE, the files of stored mail, and
//! `salur import` of mail archives.
//!
//! One instance polls each mailbox: the one holding its lease. Each round
//! fetches everything above the mailbox's checkpoint (UIDVALIDITY and the
//! last UID stored), however old, stores each message (committed before
//! the next), and only then moves the checkpoint on; mail is moved to
//! `move_to` only after that. A changed UIDVALIDITY starts over from the
//! first message, and Message-ID dedupe keeps that from storing anything
//! twice. A broken connection is opened again with backoff.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use salur_channel_email::imap::{ImapSession, Wake};
use salur_channel_email::read::{Decision, decision};
use salur_channels_core::media::{Limited, Media, MediaError, MediaSource};
use salur_channels_core::{BoxFuture, InboundMessage};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::lease::{Lease, backoff};

use crate::app::App;
use crate::channels::MailSetup;
use crate::store::{InboundRow, Op, Result, Store, Tx};

/// Most messages fetched in one go: few, as each is held in memory whole
/// (a mail with attachments may be tens of megabytes) until it is stored.
const FETCH_BATCH: usize = 5;

/// How long a mailbox lease lasts; renewed at least every third of it.
const LEASE: Duration = Duration::from_secs(90);

/// The longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

struct Checkpoint {
    channel: String,
    mailbox: String,
}

impl Op for Checkpoint {
    type Output = Option<(i64, i64)>;

    async fn run<C: Tx>(&mut self, c: &mut C) -> Result<Option<(i64, i64)>> {
        c.mail_checkpoint(&self.channel, &self.mailbox).await
    }
}

struct SaveCheckpoint {
    channel: String,
    mailbox: String,
    uid_validity: i64,
    last_uid: i64,
}

impl Op for SaveCheckpoint {
    type Output = ();

    async fn run<C: Tx>(&mut self, c: &mut C) -> Result<()> {
        c.save_mail_checkpoint(
            &self.channel,
            &self.mailbox,
            self.uid_validity,
            self.last_uid,
            Utc::now(),
        )
        .await
    }
}

/// Why a mailbox round stopped.
enum Stop {
    /// Shutting down.
    Shutdown,
    /// The lease went to another instance.
    LostLease,
    /// The connection or the database failed: try again after a while.
    Failed(String),
}

/// Polls `mailbox` of the email channel `channel` until `shutdown` fires,
/// whenever this instance holds the mailbox's lease.
pub async fn run_mailbox(
    app: Arc<App>,
    channel: String,
    mailbox: String,
    setup: Arc<MailSetup>,
    mut shutdown: watch::Receiver<bool>,
) {
    let Some(config) = setup.imap.clone() else {
        return;
    };
    let lease = Lease::new(format!("email:{channel}:{mailbox}"), LEASE);
    let mut failures: u32 = 0;
    loop {
        if *shutdown.borrow() {
            break;
        }
        let wait = match lease.take(&app.store).await {
            Ok(true) => {
                let stop = match ImapSession::connect(&config).await {
                    Ok(session) => {
                        let mut poll = Poll {
                            app: &app,
                            channel: &channel,
                            mailbox: &mailbox,
                            setup: &setup,
                            lease: &lease,
                        };
                        poll.session(session, &mut shutdown, &mut failures).await
                    }
                    Err(e) => Stop::Failed(format!("connecting: {e}")),
                };
                match stop {
                    Stop::Shutdown => break,
                    Stop::LostLease => LEASE / 3,
                    Stop::Failed(error) => {
                        app.metrics.failure("mailbox");
                        failures = failures.saturating_add(1);
                        tracing::warn!(%channel, %mailbox, %error, failures, "mailbox poll failed; reconnecting");
                        backoff(failures, MAX_BACKOFF)
                    }
                }
            }
            Ok(false) => LEASE / 3,
            Err(e) => {
                failures = failures.saturating_add(1);
                tracing::warn!(%channel, %mailbox, error = %e, "mailbox lease not renewed");
                backoff(failures, MAX_BACKOFF)
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    }
    lease.give_up(&app.store).await;
}

struct Poll<'a> {
    app: &'a App,
    channel: &'a str,
    mailbox: &'a str,
    setup: &'a MailSetup,
    lease: &'a Lease,
}

impl Poll<'_> {
    /// Works one connection until it fails, the lease is lost, or shutdown.
    async fn session(
        &mut self,
        mut session: ImapSession,
        shutdown: &mut watch::Receiver<bool>,
        failures: &mut u32,
    ) -> Stop {
        let stop = self.rounds(&mut session, shutdown, failures).await;
        session.logout().await;
        stop
    }

    async fn rounds(
        &mut self,
        session: &mut ImapSession,
        shutdown: &mut watch::Receiver<bool>,
        failures: &mut u32,
    ) -> Stop {
        let state = match session.select(self.mailbox).await {
            Ok(s) => s,
            Err(e) => return Stop::Failed(format!("selecting: {e}")),
        };
        let validity = i64::from(state.uid_validity);
        let mut last = match self
            .app
            .store
            .read(Checkpoint {
                channel: self.channel.to_owned(),
                mailbox: self.mailbox.to_owned(),
            })
            .await
        {
            Ok(Some((v, uid))) if v == validity => uid,
            Ok(Some(_)) => {
                tracing::warn!(channel = %self.channel, mailbox = %self.mailbox, "UIDVALIDITY changed: reading the mailbox again (stored mail is recognised by its Message-ID)");
                0
            }
            Ok(None) => 0,
            Err(e) => return Stop::Failed(format!("reading the checkpoint: {e}")),
        };
        // The wait is cut short often enough to renew the lease.
        let wait = self.setup.poll_interval.min(LEASE / 3);
        loop {
            if *shutdown.borrow() {
                return Stop::Shutdown;
            }
            let after = u32::try_from(last).unwrap_or(u32::MAX);
            let fetched = match session.fetch_after(after, FETCH_BATCH).await {
                Ok(f) => f,
                Err(e) => return Stop::Failed(format!("fetching: {e}")),
            };
            let full = fetched.len() >= FETCH_BATCH;
            for mail in fetched {
                let message = self.setup.reader.read(&mail.raw, Utc::now());
                if let Err(e) = self.app.ingest(message).await {
                    self.app.metrics.failure("intake");
                    return Stop::Failed(format!("storing UID {}: {e}", mail.uid));
                }
                last = i64::from(mail.uid);
                let saved = self
                    .app
                    .store
                    .write(SaveCheckpoint {
                        channel: self.channel.to_owned(),
                        mailbox: self.mailbox.to_owned(),
                        uid_validity: validity,
                        last_uid: last,
                    })
                    .await;
                if let Err(e) = saved {
                    return Stop::Failed(format!("saving the checkpoint: {e}"));
                }
                if let Some(folder) = &self.setup.move_to
                    && let Err(e) = session.move_to(mail.uid, folder).await
                {
                    // Stored already: it stays in the mailbox, above the
                    // checkpoint, and nothing is lost.
                    tracing::warn!(channel = %self.channel, mailbox = %self.mailbox, uid = mail.uid, error = %e, "moving stored mail failed");
                }
            }
            *failures = 0;
            match self.lease.take(&self.app.store).await {
                Ok(true) => {}
                Ok(false) => return Stop::LostLease,
                Err(e) => return Stop::Failed(format!("renewing the lease: {e}")),
            }
            if full {
                continue;
            }
            let woke = tokio::select! {
                r = session.wait(wait) => r,
                _ = shutdown.changed() => return Stop::Shutdown,
            };
            match woke {
                Ok(Wake::NewMail | Wake::Timeout) => {}
                Err(e) => return Stop::Failed(format!("waiting for mail: {e}")),
            }
        }
    }
}

struct StoredMessage {
    channel: String,
    provider_id: String,
}

impl Op for StoredMessage {
    type Output = Option<InboundRow>;

    async fn run<C: Tx>(&mut self, c: &mut C) -> Result<Option<InboundRow>> {
        match c.find_inbound(&self.channel, &self.provider_id).await? {
            Some((id, _)) => c.inbound(&id).await,
            None => Ok(None),
        }
    }
}

/// The files of an email channel's mail: cut out of the stored raw message
/// (`<Message-ID>#<part>`), so they are kept content-addressed and within
/// the size limit like every channel's media.
pub struct StoredMail {
    store: Store,
    channel: String,
}

impl StoredMail {
    /// The files of `channel`'s mail, read from `store`.
    pub fn new(store: Store, channel: String) -> Self {
        Self { store, channel }
    }
}

impl MediaSource for StoredMail {
    fn fetch<'a>(
        &'a self,
        provider_ref: &'a str,
        sha256: Option<&'a str>,
        max_bytes: u64,
    ) -> BoxFuture<'a, std::result::Result<Media, MediaError>> {
        Box::pin(async move {
            let (message_id, _) = provider_ref
                .rsplit_once('#')
                .ok_or_else(|| MediaError::Gone(format!("not a mail part: {provider_ref}")))?;
            let row = self
                .store
                .read(StoredMessage {
                    channel: self.channel.clone(),
                    provider_id: message_id.to_owned(),
                })
                .await
                .map_err(|e| MediaError::Transient(e.to_string()))?
                .ok_or_else(|| MediaError::Gone(format!("no stored mail {message_id}")))?;
            let (bytes, mime) =
                salur_channel_email::read::attachment(&row.raw_payload, provider_ref)
                    .ok_or_else(|| MediaError::Gone(format!("no part {provider_ref}")))?;
            let mut body = Limited::new(max_bytes, Some(bytes.len() as u64))?;
            body.push(&bytes)?;
            let bytes = body.finish();
            let got = hex::encode(Sha256::digest(&bytes));
            if let Some(stated) = sha256
                && !stated.eq_ignore_ascii_case(&got)
            {
                return Err(MediaError::Checksum {
                    stated: stated.to_owned(),
                    got,
                });
            }
            Ok(Media {
                bytes,
                mime,
                sha256: got,
            })
        })
    }
}

/// What `salur import` did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ImportSummary {
    /// Messages read from the archive.
    pub read: u64,
    /// Complaints the messages opened (or would open, in a dry run).
    pub created: u64,
    /// Messages added to an earlier complaint (replies).
    pub appended: u64,
    /// Messages stored before (by Message-ID).
    pub duplicates: u64,
    /// Messages kept for an admin with their error.
    pub quarantined: u64,
    /// Auto-replies, list mail and bounces: kept, no complaint.
    pub ignored: u64,
}

/// One mail of an archive.
struct ArchiveMail {
    origin: String,
    raw: Vec<u8>,
}

/// The mail of an archive, read one at a time: an mbox file (split on its
/// `From ` lines, `>From ` quoting undone one level), a Maildir (`cur/`
/// and `new/`) or a folder of `.eml` files, in a stable order.
enum Archive {
    Files {
        paths: std::vec::IntoIter<PathBuf>,
        total: u64,
        done: u64,
    },
    Mbox {
        path: PathBuf,
        reader: std::io::BufReader<std::fs::File>,
        pending: Option<Vec<u8>>,
        count: usize,
        total: u64,
        done: u64,
    },
}

impl Archive {
    fn open(path: &Path) -> std::io::Result<Self> {
        if path.is_file() {
            let file = std::fs::File::open(path)?;
            let total = file.metadata()?.len();
            return Ok(Self::Mbox {
                path: path.to_path_buf(),
                reader: std::io::BufReader::new(file),
                pending: None,
                count: 0,
                total,
                done: 0,
            });
        }
        let maildir = path.join("cur").is_dir() || path.join("new").is_dir();
        let dirs: Vec<PathBuf> = if maildir {
            vec![path.join("cur"), path.join("new")]
        } else {
            vec![path.to_path_buf()]
        };
        let mut files = Vec::new();
        for dir in dirs.iter().filter(|d| d.is_dir()) {
            for entry in std::fs::read_dir(dir)? {
                let p = entry?.path();
                let wanted = p.is_file()
                    && (maildir || p.extension().is_some_and(|e| e.eq_ignore_ascii_case("eml")));
                if wanted {
                    files.push(p);
                }
            }
        }
        files.sort();
        Ok(Self::Files {
            total: files.len() as u64,
            paths: files.into_iter(),
            done: 0,
        })
    }

    /// Progress: files done of all, or bytes read of the mbox's size.
    fn progress(&self) -> (u64, u64) {
        match self {
            Self::Files { done, total, .. } | Self::Mbox { done, total, .. } => (*done, *total),
        }
    }

    fn next_mail(&mut self) -> Option<std::io::Result<ArchiveMail>> {
        match self {
            Self::Files { paths, done, .. } => {
                let p = paths.next()?;
                *done += 1;
                Some(std::fs::read(&p).map(|raw| ArchiveMail {
                    origin: p.display().to_string(),
                    raw,
                }))
            }
            Self::Mbox {
                path,
                reader,
                pending,
                count,
                done,
                ..
            } => {
                use std::io::BufRead as _;
                let mut line = Vec::new();
                loop {
                    line.clear();
                    let n = match reader.read_until(b'\n', &mut line) {
                        Ok(n) => n,
                        Err(e) => return Some(Err(e)),
                    };
                    *done += n as u64;
                    let finished = if n == 0 {
                        pending.take()
                    } else if line.starts_with(b"From ") {
                        pending.replace(Vec::new())
                    } else {
                        if let Some(m) = pending.as_mut() {
                            m.extend_from_slice(unquote_from(&line));
                        }
                        None
                    };
                    if let Some(mut raw) = finished {
                        // The blank line before the next `From ` belongs to neither.
                        if raw.ends_with(b"\r\n\r\n") {
                            raw.truncate(raw.len() - 2);
                        } else if raw.ends_with(b"\n\n") {
                            raw.pop();
                        }
                        *count += 1;
                        return Some(Ok(ArchiveMail {
                            origin: format!("{}#{count}", path.display()),
                            raw,
                        }));
                    }
                    if n == 0 {
                        return None;
                    }
                }
            }
        }
    }
}

/// A `>From ` line (any number of `>`) loses one `>`: mboxrd quoting.
fn unquote_from(line: &[u8]) -> &[u8] {
    let quoted = line.starts_with(b">")
        && line
            .iter()
            .position(|&b| b != b'>')
            .is_some_and(|i| line[i..].starts_with(b"From "));
    if quoted { &line[1..] } else { line }
}

struct Known {
    channel: String,
    provider_id: String,
}

impl Op for Known {
    type Output = bool;

    async fn run<C: Tx>(&mut self, c: &mut C) -> Result<bool> {
        Ok(c.find_inbound(&self.channel, &self.provider_id)
            .await?
            .is_some())
    }
}

/// `salur import PATH`: stores every mail of an archive through the email
/// channel `channel`, as if it had arrived now, and processes it; mail
/// stored before (by Message-ID) is counted and left alone. With
/// `dry_run`, nothing is written: the summary says what would happen.
///
/// # Errors
/// When the archive cannot be read, or the database fails.
pub async fn import(
    app: &App,
    channel: &str,
    path: &Path,
    dry_run: bool,
    progress: &dyn Fn(u64, u64),
) -> anyhow::Result<ImportSummary> {
    let setup = app
        .channels
        .mail_channels()
        .into_iter()
        .find(|(n, _)| n == channel)
        .map(|(_, s)| s)
        .ok_or_else(|| anyhow::anyhow!("no email channel named `{channel}`"))?;
    let mut mails =
        Archive::open(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let mut summary = ImportSummary::default();
    while let Some(mail) = mails.next_mail() {
        let mail = mail.map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        summary.read += 1;
        let mut message = setup.reader.read(&mail.raw, Utc::now());
        // Archived mail arrived when it was sent, not today: the complaint's
        // date and the duplicate window follow its Date header.
        if let Some(sent) = message.sent_at {
            message.received_at = sent;
        }
        let kind = decision(&message);
        let known = app
            .store
            .read(Known {
                channel: channel.to_owned(),
                provider_id: message.provider_message_id.clone(),
            })
            .await?;
        if known {
            summary.duplicates += 1;
        } else {
            count(&mut summary, kind);
            if dry_run {
                println!("{}: {:?}, {}", mail.origin, kind, describe(&message));
            } else {
                app.ingest(message).await?;
            }
        }
        let (done, total) = mails.progress();
        progress(done, total);
    }
    if !dry_run {
        crate::intake::process_all(&app.store, app.intake.clone()).await?;
    }
    Ok(summary)
}

fn count(summary: &mut ImportSummary, kind: Decision) {
    match kind {
        Decision::Complaint => summary.created += 1,
        Decision::Append => summary.appended += 1,
        Decision::Quarantine => summary.quarantined += 1,
        Decision::Bounce | Decision::Ignore => summary.ignored += 1,
    }
}

fn describe(m: &InboundMessage) -> String {
    let from = m.reporter.email.as_deref().unwrap_or(&m.reporter.handle);
    let subject = m.subject.as_deref().unwrap_or("");
    format!("from {from}, subject \"{subject}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_mbox_is_read_one_mail_at_a_time_and_unquoted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("arsip.mbox");
        std::fs::write(
            &path,
            b"From a@example.com Mon Nov  3 10:00:00 2025\nSubject: one\n\n>From the start\n>>From deeper\nbody\n\nFrom b@example.com Mon Nov  3 11:00:00 2025\nSubject: two\n\nsecond\n",
        )
        .expect("write");
        let mut archive = Archive::open(&path).expect("open");
        let first = archive.next_mail().expect("one").expect("read");
        assert_eq!(
            first.raw,
            b"Subject: one\n\nFrom the start\n>From deeper\nbody\n"
        );
        assert!(first.origin.ends_with("arsip.mbox#1"));
        let second = archive.next_mail().expect("two").expect("read");
        assert_eq!(second.raw, b"Subject: two\n\nsecond\n");
        assert!(archive.next_mail().is_none());
        assert_eq!(archive.progress().0, archive.progress().1);
    }

    #[test]
    fn a_folder_gives_its_eml_files_and_a_maildir_its_cur_and_new() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("b.eml"), b"Subject: b\n\nb\n").expect("write");
        std::fs::write(dir.path().join("a.EML"), b"Subject: a\n\na\n").expect("write");
        std::fs::write(dir.path().join("notes.txt"), b"not mail").expect("write");
        let mut archive = Archive::open(dir.path()).expect("open");
        let names: Vec<String> = std::iter::from_fn(|| archive.next_mail())
            .map(|m| m.expect("read").origin)
            .collect();
        assert_eq!(names.len(), 2);
        assert!(names[0].ends_with("a.EML") && names[1].ends_with("b.eml"));

        let maildir = tempfile::tempdir().expect("tempdir");
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir(maildir.path().join(sub)).expect("mkdir");
        }
        std::fs::write(maildir.path().join("cur/1.host:2,S"), b"Subject: x\n\nx\n").expect("write");
        std::fs::write(maildir.path().join("new/2.host"), b"Subject: y\n\ny\n").expect("write");
        std::fs::write(maildir.path().join("tmp/3.host"), b"partial").expect("write");
        let mut archive = Archive::open(maildir.path()).expect("open");
        let count = std::iter::from_fn(|| archive.next_mail()).count();
        assert_eq!(count, 2, "tmp/ holds mail still being written");
    }
}
