//! The IMAP client the email poller uses: one logged-in connection reading
//! one mailbox in UID order from a checkpoint, without ever setting `\Seen`,
//! woken by IDLE (or by a NOOP after a sleep where the server has no IDLE),
//! and moving handled mail into a folder.
//!
//! `async-imap` carries the connection, the login and IDLE. The commands
//! whose answer decides what the poller does next (SELECT, SEARCH, FETCH,
//! MOVE, COPY, STORE, EXPUNGE, NOOP) are read here response by response up
//! to their tagged completion: the library's response streams end quietly
//! when the connection drops and do not report a command's `NO`, and a
//! poller must tell "no more mail" from "the connection was cut mid-fetch".
//!
//! Every network step is bounded by [`ImapConfig::timeout`]. After any
//! failure on the wire the session is closed for good and every later call
//! answers [`ImapError::Connect`]: the caller connects again.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_imap::error::Error as LibError;
use async_imap::extensions::idle::IdleResponse;
use async_imap::imap_proto::{AttributeValue, MailboxDatum, Response, ResponseCode, Status};
use async_imap::types::{Capabilities, Capability, UnsolicitedResponse};
use async_imap::{Client, Session};
use bytes::Bytes;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// The longest one IDLE runs before [`ImapSession::wait`] returns
/// [`Wake::Timeout`]: RFC 2177 asks clients to re-issue IDLE at least every
/// 29 minutes, or the server may log them out.
pub const MAX_IDLE: Duration = Duration::from_secs(29 * 60);

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte (IMAPS, usually port 993), checked against
    /// the Mozilla roots of `webpki-roots`.
    Tls,
    /// Plain TCP upgraded with `STARTTLS` before logging in (usually port
    /// 143), checked as [`Security::Tls`] is.
    StartTls,
    /// No protection: the password crosses the wire in clear, so it is
    /// allowed only to a loopback host (`127.0.0.1`, `::1`, `localhost`).
    Plain,
}

/// Where and how to reach one IMAP account.
#[derive(Clone)]
pub struct ImapConfig {
    /// Server name, also the name its TLS certificate must carry.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// How the connection is protected.
    pub security: Security,
    /// Login name.
    pub username: String,
    /// Login password; never printed.
    pub password: String,
    /// Bound on each network step: connecting, the TLS handshake, logging
    /// in, and each response the server owes a command.
    pub timeout: Duration,
    /// Certificates (DER) trusted besides the public roots: a private CA
    /// that signed the server's certificate.
    pub ca_certificates: Vec<Vec<u8>>,
}

impl fmt::Debug for ImapConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("timeout", &self.timeout)
            .field("ca_certificates", &self.ca_certificates.len())
            .finish()
    }
}

/// A selected mailbox, as SELECT reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxState {
    /// UIDVALIDITY: when it changes, every UID checkpoint for the mailbox
    /// is void.
    pub uid_validity: u32,
    /// The UID the next message will get at least, when the server says.
    pub uid_next: Option<u32>,
    /// How many messages the mailbox holds.
    pub exists: u32,
}

/// One message, fetched whole and byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// Its UID in the selected mailbox.
    pub uid: u32,
    /// The raw RFC 5322 message.
    pub raw: Bytes,
}

/// Why [`ImapSession::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The mailbox has grown since the last fetch: fetch again.
    NewMail,
    /// The time ran out without new mail.
    Timeout,
}

/// What went wrong, sorted by what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    /// The configuration is not allowed (plain text off loopback, a host
    /// that is no TLS name, a server without STARTTLS, a mailbox name IMAP
    /// cannot carry, a mailbox that does not exist): fix the configuration.
    #[error("IMAP configuration refused: {0}")]
    Refused(String),
    /// The server rejected the username or password: fix the credentials.
    #[error("IMAP login rejected: {0}")]
    Auth(String),
    /// The server could not be reached, or the connection broke or timed
    /// out: connect again later.
    #[error("IMAP connection failed: {0}")]
    Connect(String),
    /// The server answered something unexpected or refused a command:
    /// connect again later.
    #[error("IMAP server error: {0}")]
    Protocol(String),
}

impl ImapError {
    /// Whether connecting again later may succeed without any change to the
    /// configuration.
    pub fn retryable(&self) -> bool {
        matches!(self, Self::Connect(_) | Self::Protocol(_))
    }
}

/// The result of an IMAP operation.
pub type Result<T, E = ImapError> = std::result::Result<T, E>;

/// The byte stream under the IMAP session.
#[derive(Debug)]
enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The extensions the session uses when the server offers them.
#[derive(Debug, Clone, Copy, Default)]
struct Extensions {
    idle: bool,
    moves: bool,
    uidplus: bool,
}

impl Extensions {
    fn of(caps: &Capabilities) -> Self {
        let mut ext = Self::default();
        for cap in caps.iter() {
            if let Capability::Atom(atom) = cap {
                let atom = atom.to_ascii_uppercase();
                ext.idle |= atom == "IDLE";
                ext.moves |= atom == "MOVE";
                ext.uidplus |= atom == "UIDPLUS";
            }
        }
        ext
    }
}

/// What the session knows of the selected mailbox from the server's
/// untagged EXISTS and EXPUNGE responses.
#[derive(Debug, Default)]
struct Tracker {
    exists: u32,
    /// The mailbox grew after the last fetch began.
    unfetched: bool,
}

impl Tracker {
    fn exists(&mut self, n: u32) {
        self.unfetched |= n > self.exists;
        self.exists = n;
    }

    fn expunged(&mut self) {
        self.exists = self.exists.saturating_sub(1);
    }

    fn note(&mut self, response: &Response<'_>) {
        match response {
            Response::MailboxData(MailboxDatum::Exists(n)) => self.exists(*n),
            Response::Expunge(_) => self.expunged(),
            _ => {}
        }
    }

    /// Takes in what the library set aside while it ran a command itself.
    fn drain(&mut self, session: &Session<Transport>) {
        while let Ok(response) = session.unsolicited_responses.try_recv() {
            match response {
                UnsolicitedResponse::Exists(n) => self.exists(n),
                UnsolicitedResponse::Expunge(_) => self.expunged(),
                _ => {}
            }
        }
    }
}

/// A command's tagged completion.
#[derive(Debug)]
struct Completion {
    ok: bool,
    try_create: bool,
    text: String,
}

/// A logged-in IMAP connection.
pub struct ImapSession {
    /// `None` once the connection failed or is in use by IDLE.
    conn: Option<Session<Transport>>,
    host: String,
    step: Duration,
    ext: Extensions,
    mailbox: Tracker,
}

impl fmt::Debug for ImapSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapSession")
            .field("host", &self.host)
            .field("open", &self.conn.is_some())
            .field("ext", &self.ext)
            .field("mailbox", &self.mailbox)
            .finish()
    }
}

impl ImapSession {
    /// Connects, protects the connection as `cfg.security` says, and logs
    /// in.
    ///
    /// # Errors
    ///
    /// [`ImapError::Refused`] for plain text to a host that is not loopback,
    /// a host that is no TLS name, or a server that refuses STARTTLS;
    /// [`ImapError::Auth`] when the credentials are rejected;
    /// [`ImapError::Connect`] when the server cannot be reached, the TLS
    /// handshake fails or a step times out; [`ImapError::Protocol`] for
    /// anything else the server answers wrongly.
    pub async fn connect(cfg: &ImapConfig) -> Result<Self> {
        let host = cfg
            .host
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() {
            return Err(ImapError::Refused("the IMAP host is empty".into()));
        }
        let tls_name = match cfg.security {
            Security::Plain if !is_loopback(host) => {
                return Err(ImapError::Refused(format!(
                    "plain-text IMAP to {host} would send the password in clear; \
                     use TLS or STARTTLS (plain text is for loopback only)"
                )));
            }
            Security::Plain => None,
            Security::Tls | Security::StartTls => Some(tls_name(host)?),
        };
        let step = cfg.timeout;
        let tcp = bounded(step, "connecting", TcpStream::connect((host, cfg.port)))
            .await?
            .map_err(|e| ImapError::Connect(format!("{host}:{}: {e}", cfg.port)))?;
        // Only latency is at stake.
        let _ = tcp.set_nodelay(true);

        let client = match tls_name {
            None => {
                let mut client = Client::new(Transport::Plain(tcp));
                greeting(&mut client, step).await?;
                client
            }
            Some(name) if cfg.security == Security::StartTls => {
                let mut plain = Client::new(tcp);
                greeting(&mut plain, step).await?;
                let upgrade = plain.run_command_and_check_ok("STARTTLS", None);
                match bounded(step, "STARTTLS", upgrade).await? {
                    Ok(()) => {}
                    Err(LibError::No(text) | LibError::Bad(text)) => {
                        return Err(ImapError::Refused(format!(
                            "{host} refused STARTTLS: {text}"
                        )));
                    }
                    Err(e) => return Err(wire_error(e)),
                }
                // Anything the server sent after its OK is dropped with the
                // plain client, as RFC 3501 asks.
                let tls = handshake(plain.into_inner(), name, step, &cfg.ca_certificates).await?;
                Client::new(Transport::Tls(Box::new(tls)))
            }
            Some(name) => {
                let tls = handshake(tcp, name, step, &cfg.ca_certificates).await?;
                let mut client = Client::new(Transport::Tls(Box::new(tls)));
                greeting(&mut client, step).await?;
                client
            }
        };

        // A server still starting may send a second untagged OK after its
        // greeting; the login reads past it.
        let login = bounded(
            step,
            "logging in",
            client.login_with_capabilities(&cfg.username, &cfg.password),
        )
        .await?;
        let (mut session, caps) = match login {
            Ok(pair) => pair,
            Err((e, _)) => return Err(login_error(e)),
        };
        let caps = match caps {
            Some(caps) => caps,
            None => bounded(step, "CAPABILITY", session.capabilities())
                .await?
                .map_err(wire_error)?,
        };
        let mut mailbox = Tracker::default();
        mailbox.drain(&session);
        Ok(Self {
            conn: Some(session),
            host: host.to_owned(),
            step,
            ext: Extensions::of(&caps),
            mailbox,
        })
    }

    /// Selects `mailbox` read-write (SELECT, not EXAMINE, so that
    /// [`ImapSession::move_to`] can take mail out of it).
    ///
    /// # Errors
    ///
    /// [`ImapError::Refused`] when the name cannot be sent or the mailbox
    /// does not exist; [`ImapError::Protocol`] when the server refuses
    /// otherwise or gives no UIDVALIDITY; [`ImapError::Connect`] when the
    /// connection fails.
    pub async fn select(&mut self, mailbox: &str) -> Result<MailboxState> {
        let name = quote_mailbox(mailbox)?;
        let mut uid_validity = None;
        let mut uid_next = None;
        let done = self
            .exchange(&format!("SELECT {name}"), |response| {
                if let Response::Data {
                    status: Status::Ok,
                    outcome,
                } = response
                {
                    match outcome.code {
                        Some(ResponseCode::UidValidity(v)) => uid_validity = Some(v),
                        Some(ResponseCode::UidNext(n)) => uid_next = Some(n),
                        _ => {}
                    }
                }
            })
            .await?;
        if !done.ok {
            let why = format!("SELECT {mailbox}: {}", done.text);
            return Err(if self.missing(mailbox, &name, &done).await? {
                ImapError::Refused(why)
            } else {
                ImapError::Protocol(why)
            });
        }
        let uid_validity = uid_validity.ok_or_else(|| {
            ImapError::Protocol(format!("SELECT {mailbox}: the server gave no UIDVALIDITY"))
        })?;
        // What SELECT reported is the baseline `wait` measures growth from.
        self.mailbox.unfetched = false;
        Ok(MailboxState {
            uid_validity,
            uid_next,
            exists: self.mailbox.exists,
        })
    }

    /// Whether a refused SELECT was refused because the mailbox does not
    /// exist, which no retry mends: RFC 5530's `[NONEXISTENT]` says so, and
    /// servers without it (Dovecot 2.3 among them) are asked with LIST.
    async fn missing(&mut self, mailbox: &str, quoted: &str, refusal: &Completion) -> Result<bool> {
        if refusal.text.contains("[NONEXISTENT]") {
            return Ok(true);
        }
        if mailbox.contains(['*', '%']) {
            // A LIST pattern, not a name.
            return Ok(false);
        }
        let mut listed = false;
        let done = self
            .exchange(&format!("LIST \"\" {quoted}"), |response| {
                listed |= matches!(response, Response::MailboxData(MailboxDatum::List(_)));
            })
            .await?;
        Ok(done.ok && !listed)
    }

    /// The messages of the selected mailbox whose UID is above `after_uid`,
    /// oldest first, at most `max` of them, fetched with `BODY.PEEK[]` so
    /// that none is marked `\Seen`.
    ///
    /// `UID SEARCH` finds the UIDs first so that no more than `max` bodies
    /// are ever held; `n:*` always matches the last message even when its
    /// UID is below `n`, so UIDs at or below `after_uid` are dropped.
    ///
    /// # Errors
    ///
    /// [`ImapError::Connect`] when the connection breaks or stalls, even
    /// part-way through (nothing fetched is returned then);
    /// [`ImapError::Protocol`] when the server refuses the search or the
    /// fetch.
    pub async fn fetch_after(&mut self, after_uid: u32, max: usize) -> Result<Vec<Fetched>> {
        let Some(first) = after_uid.checked_add(1) else {
            return Ok(Vec::new());
        };
        if max == 0 {
            return Ok(Vec::new());
        }
        // Whatever the server announced so far, this search sees.
        if let Some(conn) = &self.conn {
            self.mailbox.drain(conn);
        }
        self.mailbox.unfetched = false;
        let mut uids = Vec::new();
        let done = self
            .exchange(&format!("UID SEARCH UID {first}:*"), |response| {
                if let Response::MailboxData(MailboxDatum::Search(found)) = response {
                    uids.extend(found.iter().copied().filter(|&uid| uid > after_uid));
                }
            })
            .await?;
        if !done.ok {
            return Err(ImapError::Protocol(format!("UID SEARCH: {}", done.text)));
        }
        uids.sort_unstable();
        uids.dedup();
        if uids.len() > max {
            uids.truncate(max);
            self.mailbox.unfetched = true;
        }
        let (Some(&low), Some(&high)) = (uids.first(), uids.last()) else {
            return Ok(Vec::new());
        };

        let mut fetched: Vec<Fetched> = Vec::with_capacity(uids.len());
        let mut bodiless = None;
        let done = self
            .exchange(
                &format!("UID FETCH {low}:{high} (UID BODY.PEEK[])"),
                |response| {
                    let Response::Fetch(_, attributes) = response else {
                        return;
                    };
                    let mut uid = None;
                    let mut body = None;
                    for attribute in attributes {
                        match attribute {
                            AttributeValue::Uid(u) => uid = Some(*u),
                            AttributeValue::BodySection {
                                section: None,
                                data,
                                ..
                            } => body = Some(data),
                            _ => {}
                        }
                    }
                    // A FETCH without a body is a flag change the server
                    // reports in passing.
                    match (uid, body) {
                        (Some(uid), Some(Some(raw))) if (low..=high).contains(&uid) => {
                            fetched.push(Fetched {
                                uid,
                                raw: Bytes::copy_from_slice(raw),
                            });
                        }
                        (Some(uid), Some(None)) if (low..=high).contains(&uid) => {
                            bodiless = Some(uid);
                        }
                        _ => {}
                    }
                },
            )
            .await?;
        if !done.ok {
            return Err(ImapError::Protocol(format!("UID FETCH: {}", done.text)));
        }
        if let Some(uid) = bodiless {
            return Err(ImapError::Protocol(format!(
                "UID FETCH: the server sent no body for UID {uid}"
            )));
        }
        fetched.sort_by_key(|f| f.uid);
        fetched.dedup_by_key(|f| f.uid);
        Ok(fetched)
    }

    /// Whether the server offers IDLE, so that [`ImapSession::wait`] learns
    /// of new mail at once instead of after its timeout.
    pub fn can_idle(&self) -> bool {
        self.ext.idle
    }

    /// Waits for new mail in the selected mailbox for at most `timeout`
    /// (and at most [`MAX_IDLE`] when idling; the caller calls again).
    ///
    /// With IDLE it returns as soon as the server announces a larger
    /// mailbox. Without, it sleeps `timeout`, sends NOOP and reports
    /// [`Wake::NewMail`] when the mailbox grew. It also returns
    /// [`Wake::NewMail`] at once when the mailbox grew during or after the
    /// last fetch, or when that fetch stopped at its `max`.
    ///
    /// # Errors
    ///
    /// [`ImapError::Connect`] when the connection breaks (during IDLE too)
    /// or stalls; [`ImapError::Protocol`] when the server refuses IDLE or
    /// NOOP. The session is closed after either: connect again.
    pub async fn wait(&mut self, timeout: Duration) -> Result<Wake> {
        let conn = self.conn.as_ref().ok_or_else(closed)?;
        self.mailbox.drain(conn);
        if self.mailbox.unfetched {
            return Ok(Wake::NewMail);
        }
        if self.ext.idle {
            self.idle(timeout.min(MAX_IDLE)).await
        } else {
            tokio::time::sleep(timeout).await;
            let done = self.exchange("NOOP", |_| {}).await?;
            if !done.ok {
                return Err(ImapError::Protocol(format!("NOOP: {}", done.text)));
            }
            Ok(if self.mailbox.unfetched {
                Wake::NewMail
            } else {
                Wake::Timeout
            })
        }
    }

    /// One IDLE of at most `limit`.
    async fn idle(&mut self, limit: Duration) -> Result<Wake> {
        let step = self.step;
        // The session lives in the handle until DONE; if anything fails
        // before then, it is dropped and this session stays closed.
        let mut handle = self.conn.take().ok_or_else(closed)?.idle();
        bounded(step, "starting IDLE", handle.init())
            .await?
            .map_err(wire_error)?;
        let deadline = Instant::now() + limit;
        let wake = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break Wake::Timeout;
            }
            // The library's own timer restarts on every keep-alive the
            // server sends, so the deadline is kept here; its timer only
            // backs this one up. `_stop` must live while waiting: dropping
            // it interrupts the wait.
            let (idling, _stop) = handle.wait_with_timeout(left + step);
            let Ok(answer) = tokio::time::timeout(left, idling).await else {
                break Wake::Timeout;
            };
            match answer.map_err(wire_error)? {
                IdleResponse::NewData(data) => {
                    let response = data.parsed();
                    if let Response::Data {
                        status: Status::Bye,
                        outcome,
                    } = response
                    {
                        return Err(ImapError::Connect(format!(
                            "the server ended the session during IDLE: {}",
                            outcome.information.as_deref().unwrap_or("BYE")
                        )));
                    }
                    self.mailbox.note(response);
                    if self.mailbox.unfetched {
                        break Wake::NewMail;
                    }
                }
                IdleResponse::Timeout => break Wake::Timeout,
                // Nothing here interrupts, so the stream ended: the
                // connection closed.
                IdleResponse::ManualInterrupt => {
                    return Err(ImapError::Connect(
                        "the connection closed during IDLE".into(),
                    ));
                }
            }
        };
        let session = bounded(step, "ending IDLE", handle.done())
            .await?
            .map_err(wire_error)?;
        self.mailbox.drain(&session);
        self.conn = Some(session);
        Ok(if self.mailbox.unfetched {
            Wake::NewMail
        } else {
            wake
        })
    }

    /// Moves the message `uid` of the selected mailbox into `folder`,
    /// creating the folder when the server says it is missing. UID MOVE
    /// when the server offers MOVE; otherwise UID COPY, `\Deleted`, and UID
    /// EXPUNGE (UIDPLUS) or, failing that, EXPUNGE, which also removes any
    /// other message already marked `\Deleted`.
    ///
    /// # Errors
    ///
    /// [`ImapError::Refused`] when `folder` cannot be sent;
    /// [`ImapError::Protocol`] when the server refuses a step (the message
    /// may then be in both mailboxes, never in neither);
    /// [`ImapError::Connect`] when the connection fails.
    pub async fn move_to(&mut self, uid: u32, folder: &str) -> Result<()> {
        let target = quote_mailbox(folder)?;
        if self.ext.moves {
            return self
                .file_into(&format!("UID MOVE {uid} {target}"), &target, folder)
                .await;
        }
        self.file_into(&format!("UID COPY {uid} {target}"), &target, folder)
            .await?;
        self.expect_ok(&format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)"))
            .await?;
        if self.ext.uidplus {
            self.expect_ok(&format!("UID EXPUNGE {uid}")).await
        } else {
            self.expect_ok("EXPUNGE").await
        }
    }

    /// Runs a MOVE or COPY into `target`, creating it once when the server
    /// answers `[TRYCREATE]`.
    async fn file_into(&mut self, command: &str, target: &str, folder: &str) -> Result<()> {
        let done = self.exchange(command, |_| {}).await?;
        if done.ok {
            return Ok(());
        }
        if !done.try_create {
            return Err(ImapError::Protocol(format!("{command}: {}", done.text)));
        }
        // Another poller may create it first; the second attempt tells.
        let created = self.exchange(&format!("CREATE {target}"), |_| {}).await?;
        let again = self.exchange(command, |_| {}).await?;
        if again.ok {
            return Ok(());
        }
        Err(ImapError::Protocol(format!(
            "{command}: {} (creating {folder}: {})",
            again.text, created.text
        )))
    }

    async fn expect_ok(&mut self, command: &str) -> Result<()> {
        let done = self.exchange(command, |_| {}).await?;
        if done.ok {
            Ok(())
        } else {
            Err(ImapError::Protocol(format!("{command}: {}", done.text)))
        }
    }

    /// Sends LOGOUT, as far as the connection still allows, and closes it.
    pub async fn logout(mut self) {
        if let Some(mut session) = self.conn.take() {
            let _ = tokio::time::timeout(self.step, session.logout()).await;
        }
    }

    /// Runs `command`, handing every untagged response to `each` (after the
    /// mailbox tracker has seen it), up to the command's tagged completion.
    /// Any failure on the wire closes the session.
    async fn exchange<F>(&mut self, command: &str, each: F) -> Result<Completion>
    where
        F: FnMut(&Response<'_>),
    {
        let Self {
            conn: slot,
            mailbox,
            step,
            ..
        } = self;
        let conn = slot.as_mut().ok_or_else(closed)?;
        let result = exchange_on(conn, mailbox, *step, command, each).await;
        if result.is_err() {
            *slot = None;
        }
        result
    }
}

async fn exchange_on<F>(
    conn: &mut Session<Transport>,
    mailbox: &mut Tracker,
    step: Duration,
    command: &str,
    mut each: F,
) -> Result<Completion>
where
    F: FnMut(&Response<'_>),
{
    mailbox.drain(conn);
    let tag = bounded(step, "sending a command", conn.run_command(command))
        .await?
        .map_err(wire_error)?;
    loop {
        let data = bounded(step, "waiting for the server", conn.read_response())
            .await?
            .map_err(|e| ImapError::Connect(e.to_string()))?
            .ok_or_else(|| ImapError::Connect("the server closed the connection".into()))?;
        match data.parsed() {
            Response::Done {
                tag: done,
                status,
                outcome,
            } if *done == tag => {
                let text = outcome.information.as_deref().unwrap_or_default();
                return Ok(Completion {
                    ok: *status == Status::Ok,
                    try_create: matches!(outcome.code, Some(ResponseCode::TryCreate)),
                    text: format!("{status:?} {text}"),
                });
            }
            Response::Data {
                status: Status::Bye,
                outcome,
            } => {
                return Err(ImapError::Connect(format!(
                    "the server ended the session: {}",
                    outcome.information.as_deref().unwrap_or("BYE")
                )));
            }
            response => {
                mailbox.note(response);
                each(response);
            }
        }
    }
}

/// Reads the server's greeting.
async fn greeting<T>(client: &mut Client<T>, step: Duration) -> Result<()>
where
    T: AsyncRead + AsyncWrite + Unpin + fmt::Debug + Send,
{
    let data = bounded(step, "waiting for the greeting", client.read_response())
        .await?
        .map_err(|e| ImapError::Connect(e.to_string()))?
        .ok_or_else(|| ImapError::Connect("the server closed the connection at once".into()))?;
    match data.parsed() {
        Response::Data {
            status: Status::Ok | Status::PreAuth,
            ..
        } => Ok(()),
        Response::Data {
            status: Status::Bye,
            outcome,
        } => Err(ImapError::Connect(format!(
            "the server turned the connection away: {}",
            outcome.information.as_deref().unwrap_or("BYE")
        ))),
        other => Err(ImapError::Protocol(format!(
            "unexpected greeting: {other:?}"
        ))),
    }
}

/// The public roots, and the operator's own CA when configured.
fn roots(extra: &[Vec<u8>]) -> Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for der in extra {
        roots
            .add(rustls::pki_types::CertificateDer::from(der.clone()))
            .map_err(|e| ImapError::Refused(format!("the configured CA certificate: {e}")))?;
    }
    Ok(roots)
}

async fn handshake(
    tcp: TcpStream,
    name: ServerName<'static>,
    step: Duration,
    extra: &[Vec<u8>],
) -> Result<TlsStream<TcpStream>> {
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| ImapError::Refused(format!("TLS set-up: {e}")))?
    .with_root_certificates(roots(extra)?)
    .with_no_client_auth();
    let shown = format!("{name:?}");
    bounded(
        step,
        "the TLS handshake",
        TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await?
    .map_err(|e| ImapError::Connect(format!("TLS with {shown}: {e}")))
}

fn tls_name(host: &str) -> Result<ServerName<'static>> {
    ServerName::try_from(host.to_owned())
        .map_err(|_| ImapError::Refused(format!("{host:?} is not a name TLS can check")))
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A mailbox name as an IMAP quoted string. Names are sent in modified
/// UTF-7 (RFC 3501 section 5.1.3); only its ASCII part is written here, so
/// other names are refused.
fn quote_mailbox(name: &str) -> Result<String> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii() && !b.is_ascii_control()) {
        return Err(ImapError::Refused(format!(
            "mailbox name {name:?} must be printable ASCII"
        )));
    }
    let mut quoted = String::with_capacity(name.len() + 2);
    quoted.push('"');
    for c in name.chars() {
        match c {
            '"' | '\\' => {
                quoted.push('\\');
                quoted.push(c);
            }
            '&' => quoted.push_str("&-"),
            _ => quoted.push(c),
        }
    }
    quoted.push('"');
    Ok(quoted)
}

async fn bounded<F: Future>(limit: Duration, what: &str, step: F) -> Result<F::Output> {
    tokio::time::timeout(limit, step)
        .await
        .map_err(|_| ImapError::Connect(format!("{what} took longer than {limit:?}")))
}

fn closed() -> ImapError {
    ImapError::Connect("the session is closed after an earlier failure; connect again".into())
}

/// A library error on an open connection.
fn wire_error(e: LibError) -> ImapError {
    match e {
        LibError::Io(e) => ImapError::Connect(e.to_string()),
        LibError::ConnectionLost => ImapError::Connect("the connection was lost".into()),
        LibError::Validate(e) => ImapError::Refused(e.to_string()),
        e => ImapError::Protocol(e.to_string()),
    }
}

/// A failed LOGIN. `NO [UNAVAILABLE]` (RFC 5530) is the server's own
/// trouble, not the credentials'.
fn login_error(e: LibError) -> ImapError {
    match e {
        LibError::No(text) if text.contains("[UNAVAILABLE]") => ImapError::Protocol(text),
        LibError::No(text) => ImapError::Auth(text),
        LibError::Validate(_) => {
            ImapError::Refused("the username or password holds a character IMAP cannot send".into())
        }
        e => wire_error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(host: &str, security: Security) -> ImapConfig {
        ImapConfig {
            host: host.into(),
            port: 1,
            security,
            username: "pengaduan".into(),
            password: "sangat-rahasia".into(),
            timeout: Duration::from_secs(1),
            ca_certificates: Vec::new(),
        }
    }

    #[test]
    fn debug_hides_the_password() {
        let shown = format!("{:?}", config("imap.example.org", Security::Tls));
        assert!(shown.contains("pengaduan"), "{shown}");
        assert!(!shown.contains("sangat-rahasia"), "{shown}");
    }

    #[test]
    fn loopback_hosts() {
        for host in ["127.0.0.1", "127.0.0.2", "::1", "localhost", "LocalHost"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "10.0.0.1",
            "imap.example.org",
            "localhost.example.org",
            "::2",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[tokio::test]
    async fn plain_text_off_loopback_is_refused_before_connecting() {
        let e = ImapSession::connect(&config("imap.example.org", Security::Plain))
            .await
            .expect_err("refused");
        assert!(matches!(e, ImapError::Refused(_)), "{e}");
        assert!(!e.retryable());
    }

    #[tokio::test]
    async fn a_host_that_is_no_tls_name_is_refused() {
        let e = ImapSession::connect(&config("bad host!", Security::Tls))
            .await
            .expect_err("refused");
        assert!(matches!(e, ImapError::Refused(_)), "{e}");
    }

    #[test]
    fn mailbox_names_are_quoted() {
        assert_eq!(quote_mailbox("INBOX").ok().as_deref(), Some("\"INBOX\""));
        assert_eq!(
            quote_mailbox("Arsip \"lama\"\\A&B").ok().as_deref(),
            Some("\"Arsip \\\"lama\\\"\\\\A&-B\"")
        );
        for bad in ["", "a\r\nb", "Pengaduan/Diproses\u{e9}"] {
            assert!(
                matches!(quote_mailbox(bad), Err(ImapError::Refused(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn only_connection_and_server_trouble_is_retryable() {
        assert!(ImapError::Connect(String::new()).retryable());
        assert!(ImapError::Protocol(String::new()).retryable());
        assert!(!ImapError::Auth(String::new()).retryable());
        assert!(!ImapError::Refused(String::new()).retryable());
    }

    #[test]
    fn tracker_sees_growth_not_shrinkage() {
        let mut t = Tracker::default();
        t.exists(3);
        assert!(t.unfetched);
        t.unfetched = false;
        t.expunged();
        assert_eq!(t.exists, 2);
        t.exists(2);
        assert!(!t.unfetched);
        t.exists(3);
        assert!(t.unfetched);
    }
}
