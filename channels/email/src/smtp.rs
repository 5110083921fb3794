//! Sending replies over SMTP: acknowledgements and status notices go back to
//! the citizen as plain-text mail, threaded under the mail they answer.
//!
//! Every mail we send is an automatic answer, so it says so (RFC 3834):
//! `Auto-Submitted: auto-replied`, and `X-Auto-Response-Suppress: All` for
//! Exchange, so that out-of-office answers do not come back at us. Its
//! `Message-ID` names the `from` address's domain
//! ([`EmailSender::message_id_domain`]): a citizen's reply that names it in
//! `In-Reply-To` or `References` belongs to the complaint we acknowledged.
//!
//! The connection is lettre's pooled [`AsyncSmtpTransport`]. lettre's own
//! timeout only bounds the TCP connect in its async transport, so each send
//! is bounded here as a whole, and a connection left mid-command by that
//! bound is never reused.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher as _;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::{AsyncSmtpTransportBuilder, Error as SmtpError};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use salur_channels_core::{
    BoxFuture, ChannelError, OutboundReply, ReplyKind, ReplySender, Result, SentReceipt,
};
use sha2::{Digest as _, Sha256};

/// RFC 3834: this mail is an automatic answer to one the citizen sent.
const AUTO_SUBMITTED: HeaderName = HeaderName::new_from_ascii_str("Auto-Submitted");
/// Exchange's way of saying the same: send us no out-of-office answers.
const AUTO_RESPONSE_SUPPRESS: HeaderName =
    HeaderName::new_from_ascii_str("X-Auto-Response-Suppress");

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
    /// A plain connection that must be upgraded with `STARTTLS` before
    /// anything else is sent (usually port 587).
    StartTls,
    /// No encryption at all: only to a relay on this machine (`127.0.0.1`,
    /// `::1`, `localhost`).
    Plain,
}

/// Where and how to send mail.
#[derive(Clone)]
pub struct SmtpConfig {
    /// The SMTP server's host name or IP address.
    pub host: String,
    /// The SMTP server's port.
    pub port: u16,
    /// How the connection is protected.
    pub security: SmtpSecurity,
    /// The user to log in as; set together with `password`.
    pub username: Option<String>,
    /// The password to log in with; never shown by `Debug` or in errors.
    pub password: Option<String>,
    /// The sender, e.g. `Layanan Pengaduan <aduan@example-kab.go.id>`; its
    /// domain is also the domain of our `Message-ID`s.
    pub from: String,
    /// The most one send may take, connecting included.
    pub timeout: Duration,
    /// Certificates (DER) trusted besides the public roots: a private CA
    /// that signed the server's certificate.
    pub ca_certificates: Vec<Vec<u8>>,
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Subject lines, by what the reply is for; the tracking code is put in
/// front as `[SLR-7K3Q-9XPA] `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subjects {
    /// For [`ReplyKind::Acknowledgement`].
    pub acknowledgement: String,
    /// For [`ReplyKind::StatusNotice`].
    pub status_notice: String,
    /// For anything else ([`ReplyKind::Prompt`]).
    pub other: String,
}

impl Subjects {
    /// The subject for a reply of this kind, without the tracking code.
    fn for_kind(&self, kind: ReplyKind) -> &str {
        match kind {
            ReplyKind::Acknowledgement => &self.acknowledgement,
            ReplyKind::StatusNotice => &self.status_notice,
            ReplyKind::Prompt => &self.other,
        }
    }
}

/// Sends replies as mail through one SMTP server.
pub struct EmailSender {
    from: Mailbox,
    domain: String,
    subjects: Subjects,
    timeout: Duration,
    /// Everything needed to connect, checked in [`EmailSender::new`].
    builder: AsyncSmtpTransportBuilder,
    /// The pooled transport, made on the first send (lettre's pool starts a
    /// Tokio task when it is made) and dropped after a send timed out.
    transport: Mutex<Pooled>,
    /// Where the server is, for errors.
    server: String,
}

/// The current transport, numbered so that a send that timed out drops
/// only the one it used.
#[derive(Default)]
struct Pooled {
    generation: u64,
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
}

impl fmt::Debug for EmailSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailSender")
            .field("server", &self.server)
            .field("from", &self.from.to_string())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl EmailSender {
    /// A sender through the server `cfg` names. Nothing is connected yet:
    /// the first send connects, and later sends reuse the connection.
    ///
    /// # Errors
    /// [`ChannelError::InvalidField`] when `from` is not a mailbox, when
    /// `security` is [`SmtpSecurity::Plain`] to a host that is not this
    /// machine, when only one of `username` and `password` is set, when
    /// `host` is empty or `timeout` is zero.
    pub fn new(cfg: SmtpConfig, subjects: Subjects) -> Result<Self> {
        let from: Mailbox = cfg.from.trim().parse().map_err(|e| invalid("from", e))?;
        let domain = from.email.domain().to_ascii_lowercase();
        let host = cfg.host.trim();
        if host.is_empty() {
            return Err(invalid("host", "is empty"));
        }
        if cfg.timeout.is_zero() {
            return Err(invalid("timeout", "must be more than zero"));
        }
        let tls = match cfg.security {
            SmtpSecurity::Tls => Tls::Wrapper(tls_parameters(host, &cfg.ca_certificates)?),
            SmtpSecurity::StartTls => Tls::Required(tls_parameters(host, &cfg.ca_certificates)?),
            SmtpSecurity::Plain if is_loopback(host) => Tls::None,
            SmtpSecurity::Plain => {
                return Err(invalid(
                    "security",
                    format!(
                        "plain SMTP is allowed only to this machine (127.0.0.1, ::1, localhost), \
                         not to {host}: use tls or starttls"
                    ),
                ));
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(cfg.port)
            .tls(tls)
            .timeout(Some(cfg.timeout));
        match (cfg.username, cfg.password) {
            (Some(user), Some(password)) => {
                builder = builder.credentials(Credentials::new(user, password));
            }
            (None, None) => {}
            (Some(_), None) => return Err(invalid("password", "is missing for the username")),
            (None, Some(_)) => return Err(invalid("username", "is missing for the password")),
        }
        Ok(Self {
            from,
            domain,
            subjects,
            timeout: cfg.timeout,
            builder,
            transport: Mutex::new(Pooled::default()),
            server: format!("{host}:{}", cfg.port),
        })
    }

    /// The domain our Message-IDs use (the `from` address's domain, in
    /// lower case): mail that names it in In-Reply-To/References replies
    /// to us.
    pub fn message_id_domain(&self) -> &str {
        &self.domain
    }

    async fn send_reply(&self, reply: &OutboundReply) -> Result<SentReceipt> {
        let (message, id) = self.message(reply)?;
        let (generation, transport) = self.transport();
        match tokio::time::timeout(self.timeout, transport.send(message)).await {
            Ok(Ok(_)) => Ok(SentReceipt {
                provider_message_id: Some(id),
            }),
            Ok(Err(e)) => Err(self.error(&e)),
            Err(_) => {
                // The connection may be stopped halfway through a command;
                // its pool goes, so the next send starts afresh.
                self.forget(generation);
                Err(ChannelError::Transient(format!(
                    "SMTP server {} did not finish within {:?}",
                    self.server, self.timeout
                )))
            }
        }
    }

    /// The mail for `reply`, and its Message-ID without brackets.
    fn message(&self, reply: &OutboundReply) -> Result<(Message, String)> {
        let to: Address = reply
            .to
            .strip_prefix("email:")
            .ok_or_else(|| ChannelError::Permanent("not an email handle (email:<address>)".into()))?
            .trim()
            .parse()
            .map_err(|e| ChannelError::Permanent(format!("bad recipient address: {e}")))?;
        let id = new_message_id(&self.domain);
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(subject(
                reply.tracking_code.as_deref(),
                self.subjects.for_kind(reply.kind),
            ))
            .message_id(Some(format!("<{id}>")))
            .date_now()
            .raw_header(HeaderValue::new(AUTO_SUBMITTED, "auto-replied".into()))
            .raw_header(HeaderValue::new(AUTO_RESPONSE_SUPPRESS, "All".into()));
        // A citizen's id we cannot write back unchanged only loses the
        // threading; the answer still goes.
        if let Some(parent) = reply.in_reply_to.as_deref().and_then(bare_message_id) {
            builder = builder
                .in_reply_to(format!("<{parent}>"))
                .references(format!("<{parent}>"));
        }
        let message = builder
            .singlepart(SinglePart::plain(reply.text.clone()))
            .map_err(|e| ChannelError::Permanent(format!("cannot build the mail: {e}")))?;
        Ok((message, id))
    }

    /// The pooled transport, made now if there is none, and which one it is.
    fn transport(&self) -> (u64, AsyncSmtpTransport<Tokio1Executor>) {
        let mut slot = self
            .transport
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(t) = &slot.transport {
            return (slot.generation, t.clone());
        }
        let t = self.builder.clone().build();
        slot.generation += 1;
        slot.transport = Some(t.clone());
        (slot.generation, t)
    }

    /// Drops the transport `generation` names, unless another send has
    /// already replaced it. Its connections close once no send uses them.
    fn forget(&self, generation: u64) {
        let mut slot = self
            .transport
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if slot.generation == generation {
            slot.transport = None;
        }
    }

    fn error(&self, e: &SmtpError) -> ChannelError {
        // lettre's errors hold the server's reply or the I/O error, never
        // the credentials.
        // A refused login (530, 534, 535) is our configuration, not the
        // citizen's address: retried while an operator fixes it.
        let login = e
            .status()
            .is_some_and(|c| matches!(c.to_string().as_str(), "530" | "534" | "535"));
        if e.is_permanent() && !login {
            ChannelError::Permanent(format!("SMTP server {} refused: {e}", self.server))
        } else if e.is_timeout() {
            ChannelError::Transient(format!("SMTP server {} timed out: {e}", self.server))
        } else {
            ChannelError::Transient(format!("SMTP server {}: {e}", self.server))
        }
    }
}

impl ReplySender for EmailSender {
    /// Sends one reply to `email:<address>`.
    ///
    /// # Errors
    /// [`ChannelError::Permanent`] when the handle is not an email address
    /// or the server refused the mail for good (a 5xx reply, in the
    /// server's words); [`ChannelError::Transient`] for a 4xx reply, a
    /// refused login (our configuration, retried while it is fixed), a
    /// connection that failed, and a send that took longer than the
    /// configured timeout.
    fn send<'a>(&'a self, reply: &'a OutboundReply) -> BoxFuture<'a, Result<SentReceipt>> {
        Box::pin(self.send_reply(reply))
    }
}

/// `[SLR-7K3Q-9XPA] Pengaduan Anda kami terima`, or the subject alone when
/// there is no tracking code. Line breaks become spaces.
fn subject(tracking_code: Option<&str>, subject: &str) -> String {
    let line = match tracking_code.map(str::trim).filter(|c| !c.is_empty()) {
        Some(code) => format!("[{code}] {subject}"),
        None => subject.to_owned(),
    };
    line.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A citizen's Message-ID without its angle brackets, when it can be
/// written back as it is: printable ASCII, no spaces, no brackets inside.
fn bare_message_id(id: &str) -> Option<&str> {
    let id = id.trim();
    let id = id
        .strip_prefix('<')
        .and_then(|i| i.strip_suffix('>'))
        .unwrap_or(id);
    let ok = !id.is_empty()
        && id.len() <= 900
        && id
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>');
    ok.then_some(id)
}

/// `salur.<24 hex digits>@<domain>`, unique across processes and time: a
/// hash of a per-process random key, the clock, the process id and a
/// counter.
fn new_message_id(domain: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut hash = Sha256::new();
    hash.update(RandomState::new().hash_one(0u8).to_le_bytes());
    hash.update(nanos.to_le_bytes());
    hash.update(std::process::id().to_le_bytes());
    hash.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    let digest = hash.finalize();
    format!("salur.{}@{domain}", hex::encode(&digest[..12]))
}

/// Whether `host` is this machine.
fn is_loopback(host: &str) -> bool {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// TLS checked against the public roots and the operator's own CA.
fn tls_parameters(host: &str, extra: &[Vec<u8>]) -> Result<TlsParameters> {
    let mut builder = TlsParameters::builder(host.to_owned());
    for der in extra {
        let cert = Certificate::from_der(der.clone()).map_err(|e| invalid("ca_file", e))?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build_rustls().map_err(|e| invalid("security", e))
}

fn invalid(field: &str, reason: impl fmt::Display) -> ChannelError {
    ChannelError::InvalidField {
        field: field.into(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn config(host: &str, security: SmtpSecurity) -> SmtpConfig {
        SmtpConfig {
            host: host.into(),
            port: 2525,
            security,
            username: Some("aduan".into()),
            password: Some("rahasia-sekali".into()),
            from: "Layanan Pengaduan <aduan@Example-Kab.go.id>".into(),
            timeout: Duration::from_secs(5),
            ca_certificates: Vec::new(),
        }
    }

    fn subjects() -> Subjects {
        Subjects {
            acknowledgement: "Pengaduan Anda kami terima".into(),
            status_notice: "Status pengaduan Anda".into(),
            other: "Layanan Pengaduan".into(),
        }
    }

    #[test]
    fn plain_only_to_this_machine() {
        for host in [
            "127.0.0.1",
            "::1",
            "[::1]",
            "localhost",
            "LOCALHOST",
            "127.0.0.53",
        ] {
            assert!(
                EmailSender::new(config(host, SmtpSecurity::Plain), subjects()).is_ok(),
                "{host}"
            );
        }
        for host in ["smtp.example.net", "10.0.0.1", "localhost.example.net"] {
            let e = EmailSender::new(config(host, SmtpSecurity::Plain), subjects()).unwrap_err();
            assert!(
                matches!(&e, ChannelError::InvalidField { field, .. } if field == "security"),
                "{host}: {e:?}"
            );
        }
        assert!(
            EmailSender::new(config("smtp.example.net", SmtpSecurity::Tls), subjects()).is_ok()
        );
        assert!(
            EmailSender::new(
                config("smtp.example.net", SmtpSecurity::StartTls),
                subjects()
            )
            .is_ok()
        );
    }

    #[test]
    fn bad_settings_are_refused() {
        let mut c = config("127.0.0.1", SmtpSecurity::Plain);
        c.from = "not a mailbox".into();
        assert!(matches!(
            EmailSender::new(c, subjects()),
            Err(ChannelError::InvalidField { field, .. }) if field == "from"
        ));
        let mut c = config("127.0.0.1", SmtpSecurity::Plain);
        c.password = None;
        assert!(EmailSender::new(c, subjects()).is_err());
        let mut c = config("127.0.0.1", SmtpSecurity::Plain);
        c.timeout = Duration::ZERO;
        assert!(EmailSender::new(c, subjects()).is_err());
    }

    #[test]
    fn the_password_is_never_shown() {
        let c = config("127.0.0.1", SmtpSecurity::Plain);
        assert!(!format!("{c:?}").contains("rahasia"));
        let sender = EmailSender::new(c, subjects()).unwrap();
        assert!(!format!("{sender:?}").contains("rahasia"));
        assert_eq!(sender.message_id_domain(), "example-kab.go.id");
    }

    #[test]
    fn subjects_carry_the_tracking_code() {
        assert_eq!(
            subject(Some("SLR-7K3Q-9XPA"), "Pengaduan Anda kami terima"),
            "[SLR-7K3Q-9XPA] Pengaduan Anda kami terima"
        );
        assert_eq!(subject(None, "Status"), "Status");
        assert_eq!(subject(Some(" "), "Status"), "Status");
        assert_eq!(subject(None, "a\r\nb"), "a  b");
    }

    #[test]
    fn citizen_ids_are_written_back_only_when_safe() {
        assert_eq!(
            bare_message_id("<abc@mail.example>"),
            Some("abc@mail.example")
        );
        assert_eq!(
            bare_message_id("abc@mail.example"),
            Some("abc@mail.example")
        );
        assert_eq!(bare_message_id("<>"), None);
        assert_eq!(bare_message_id("a b@c"), None);
        assert_eq!(bare_message_id("a\r\nBcc: x@y"), None);
    }

    #[test]
    fn message_ids_differ() {
        let a = new_message_id("example-kab.go.id");
        let b = new_message_id("example-kab.go.id");
        assert_ne!(a, b);
        assert!(
            a.starts_with("salur.") && a.ends_with("@example-kab.go.id"),
            "{a}"
        );
    }

    #[test]
    fn the_mail_has_the_headers_rfc_3834_asks_for() {
        let sender =
            EmailSender::new(config("127.0.0.1", SmtpSecurity::Plain), subjects()).unwrap();
        let reply = OutboundReply {
            channel_name: "email".into(),
            to: "email:warga@example.net".into(),
            text: "Terima kasih — pengaduan Anda kami terima.".into(),
            in_reply_to: Some("<CAF-1@mail.example.net>".into()),
            tracking_code: Some("SLR-7K3Q-9XPA".into()),
            kind: ReplyKind::Acknowledgement,
            last_inbound_at: None,
            window_closed: false,
            presentation: Default::default(),
        };
        let (message, id) = sender.message(&reply).unwrap();
        let raw = String::from_utf8(message.formatted()).unwrap();
        for line in [
            format!("Message-ID: <{id}>"),
            "In-Reply-To: <CAF-1@mail.example.net>".into(),
            "References: <CAF-1@mail.example.net>".into(),
            "Auto-Submitted: auto-replied".into(),
            "X-Auto-Response-Suppress: All".into(),
            "Subject: [SLR-7K3Q-9XPA] Pengaduan Anda kami terima".into(),
            "MIME-Version: 1.0".into(),
        ] {
            assert!(raw.contains(&format!("{line}\r\n")), "{line} in\n{raw}");
        }
        let mut bad = reply.clone();
        bad.to = "telegram:12".into();
        assert!(matches!(
            sender.message(&bad),
            Err(ChannelError::Permanent(_))
        ));
    }
}
