//! A real SMTP server for the email tests, and the tests of the SMTP
//! sender against it.
//!
//! [`SmtpSink`] runs Debian's python3-aiosmtpd (1.4) as a child process on
//! 127.0.0.1 with a port the server picks itself, so no two tests race for
//! one. It keeps every mail it is given (envelope sender, recipients, the
//! raw DATA bytes) as files in a temporary folder, and refuses recipients by
//! their local part: `unknown…` with `550 5.1.1 user unknown`, `later…` with
//! `451 4.3.0 try again later`.
//!
//! The sink is `/usr/bin/python3`, not the first `python3` on `PATH` (a
//! pyenv without aiosmtpd). When aiosmtpd is absent the tests that need the
//! sink are skipped with a printed reason, or fail under
//! `SALUR_TEST_REQUIRE_SERVICES=1`, as the other services in
//! [`crate::support`] do.

#![allow(dead_code, clippy::unwrap_used)]

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use salur_channel_email::smtp::{EmailSender, SmtpConfig, SmtpSecurity, Subjects};
use salur_channels_core::{ChannelError, OutboundReply, ReplyKind, ReplySender};

use crate::support::services_required;

/// The interpreter that has aiosmtpd (Debian's, not a pyenv's).
const PYTHON: &str = "/usr/bin/python3";
/// How long the sink gets to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// The sink's handler. Arguments: the folder mail is kept in, then the file
/// to write the listening port to. Each mail becomes a folder
/// `msg-NNNNNN` holding `mail_from`, `rcpt_to` (one address a line),
/// `raw` and `peer` (the client's address and port); it is written under another name and renamed, so a reader never
/// sees half a mail. The sink exits when its stdin closes, so it cannot
/// outlive a test process that was killed.
const SINK_PY: &str = r#"
import asyncio, os, sys, threading
from aiosmtpd.smtp import SMTP

MAIL_DIR, PORT_FILE = sys.argv[1], sys.argv[2]
# With a certificate and its key, the sink demands STARTTLS, or with a
# fifth argument `implicit` speaks TLS from the first byte (SMTPS).
TLS = None
IMPLICIT = len(sys.argv) > 5 and sys.argv[5] == "implicit"
if len(sys.argv) > 4:
    import ssl
    TLS = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    TLS.load_cert_chain(sys.argv[3], sys.argv[4])


class Handler:
    def __init__(self):
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("unknown"):
            return "550 5.1.1 user unknown"
        if address.startswith("later"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        tmp = os.path.join(MAIL_DIR, "tmp-%06d" % self.count)
        os.mkdir(tmp)
        with open(os.path.join(tmp, "mail_from"), "w", encoding="utf-8") as f:
            f.write(envelope.mail_from or "")
        with open(os.path.join(tmp, "rcpt_to"), "w", encoding="utf-8") as f:
            f.write("\n".join(envelope.rcpt_tos))
        with open(os.path.join(tmp, "raw"), "wb") as f:
            f.write(envelope.original_content or b"")
        with open(os.path.join(tmp, "peer"), "w") as f:
            f.write("%s:%s" % tuple(session.peer[:2]))
        os.rename(tmp, os.path.join(MAIL_DIR, "msg-%06d" % self.count))
        return "250 2.0.0 queued as %d" % self.count


def exit_when_parent_goes():
    sys.stdin.buffer.read()
    os._exit(0)


async def main():
    loop = asyncio.get_running_loop()
    handler = Handler()
    server = await loop.create_server(
        lambda: SMTP(
            handler,
            hostname="sink.salur.test",
            enable_SMTPUTF8=True,
            loop=loop,
            tls_context=None if IMPLICIT else TLS,
            require_starttls=TLS is not None and not IMPLICIT,
        ),
        "127.0.0.1",
        0,
        ssl=TLS if IMPLICIT else None,
    )
    port = server.sockets[0].getsockname()[1]
    with open(PORT_FILE + ".tmp", "w") as f:
        f.write(str(port))
    os.rename(PORT_FILE + ".tmp", PORT_FILE)
    threading.Thread(target=exit_when_parent_goes, daemon=True).start()
    await asyncio.Event().wait()


asyncio.run(main())
"#;

/// One mail the sink was given.
#[derive(Clone, PartialEq, Eq)]
pub struct Captured {
    /// The envelope sender (`MAIL FROM`).
    pub mail_from: String,
    /// The envelope recipients the sink accepted (`RCPT TO`).
    pub rcpt_to: Vec<String>,
    /// The mail as sent after `DATA`, with CRLF line ends.
    pub raw: Vec<u8>,
    /// The client's address and port: mails sent over one connection
    /// share it.
    pub peer: String,
}

impl fmt::Debug for Captured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Captured")
            .field("mail_from", &self.mail_from)
            .field("rcpt_to", &self.rcpt_to)
            .field("raw", &String::from_utf8_lossy(&self.raw))
            .field("peer", &self.peer)
            .finish()
    }
}

impl Captured {
    /// A header's value, unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        header(&self.raw, name)
    }

    /// The body as text, its transfer encoding undone, with LF line ends.
    pub fn text(&self) -> String {
        body_text(&self.raw)
    }
}

/// A running aiosmtpd on 127.0.0.1; killed on drop.
pub struct SmtpSink {
    /// The port it listens on.
    pub port: u16,
    child: Child,
    mail: PathBuf,
    dir: tempfile::TempDir,
}

impl SmtpSink {
    /// Starts a sink and waits until it listens.
    ///
    /// Returns `None` (after printing `SKIP: …`) when `/usr/bin/python3`
    /// has no aiosmtpd; panics instead when services are required, and
    /// whenever the sink does not start.
    pub async fn start() -> Option<Self> {
        Self::start_with(None, false).await
    }

    /// As [`SmtpSink::start`], demanding STARTTLS with the certificate and
    /// key at the given paths.
    pub async fn start_tls(cert: &Path, key: &Path) -> Option<Self> {
        Self::start_with(Some((cert, key)), false).await
    }

    /// As [`SmtpSink::start`], speaking TLS from the first byte (SMTPS)
    /// with the certificate and key at the given paths.
    pub async fn start_implicit_tls(cert: &Path, key: &Path) -> Option<Self> {
        Self::start_with(Some((cert, key)), true).await
    }

    async fn start_with(tls: Option<(&Path, &Path)>, implicit: bool) -> Option<Self> {
        if let Err(why) = aiosmtpd_available().await {
            if services_required() {
                panic!("the SMTP sink is required (SALUR_TEST_REQUIRE_SERVICES=1): {why}");
            }
            eprintln!("SKIP: SMTP sink unavailable: {why}");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("sink.py");
        let mail = dir.path().join("mail");
        let port_file = dir.path().join("port");
        std::fs::write(&script, SINK_PY).unwrap();
        std::fs::create_dir(&mail).unwrap();
        let log = File::create(dir.path().join("stderr.log")).unwrap();
        let mut command = Command::new(PYTHON);
        command.arg(&script).arg(&mail).arg(&port_file);
        if let Some((cert, key)) = tls {
            command.arg(cert).arg(key);
            if implicit {
                command.arg("implicit");
            }
        }
        let child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start the SMTP sink");
        let mut sink = Self {
            port: 0,
            child,
            mail,
            dir,
        };
        sink.port = sink.wait_for_port(&port_file).await;
        Some(sink)
    }

    async fn wait_for_port(&mut self, port_file: &Path) -> u16 {
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(text) = std::fs::read_to_string(port_file) {
                return text.trim().parse().expect("the sink writes its port");
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the SMTP sink exited ({status}):\n{}", self.log());
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "the SMTP sink did not listen within {START_TIMEOUT:?}:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// What the sink printed to stderr.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// The mails received so far, in the order they came.
    pub fn messages(&self) -> Vec<Captured> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.mail)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("msg-"))
            })
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| Captured {
                mail_from: std::fs::read_to_string(p.join("mail_from")).unwrap(),
                rcpt_to: std::fs::read_to_string(p.join("rcpt_to"))
                    .unwrap()
                    .lines()
                    .map(str::to_owned)
                    .collect(),
                raw: std::fs::read(p.join("raw")).unwrap(),
                peer: std::fs::read_to_string(p.join("peer")).unwrap(),
            })
            .collect()
    }

    /// Waits until `n` mails have arrived and returns them all; panics,
    /// showing what did arrive, when they do not come `within`.
    pub async fn wait(&self, n: usize, within: Duration) -> Vec<Captured> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "expected {n} mails within {within:?}, got {}: {got:#?}\nsink log:\n{}",
                    got.len(),
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A plain-SMTP config for this sink, sending as `from`.
    pub fn config(&self, from: &str) -> SmtpConfig {
        SmtpConfig {
            host: "127.0.0.1".into(),
            port: self.port,
            security: SmtpSecurity::Plain,
            username: None,
            password: None,
            from: from.into(),
            timeout: Duration::from_secs(10),
            ca_certificates: Vec::new(),
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `Ok` when `/usr/bin/python3` can import aiosmtpd, else why not.
async fn aiosmtpd_available() -> Result<(), String> {
    let out = tokio::process::Command::new(PYTHON)
        .args(["-c", "import aiosmtpd.smtp"])
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| format!("{PYTHON}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{PYTHON} cannot import aiosmtpd (install python3-aiosmtpd): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A header's value in a captured mail (unfolded), for assertions.
pub fn header(raw: &[u8], name: &str) -> Option<String> {
    headers(raw)
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// Every header field, in order, unfolded: a line that starts with a space
/// or a tab continues the field before it.
fn headers(raw: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(raw).replace("\r\n", "\n");
    let head = text.split("\n\n").next().unwrap_or_default();
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push_str(line);
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_owned(), value.to_owned()));
        }
    }
    fields
        .into_iter()
        .map(|(n, v)| (n, v.trim().to_owned()))
        .collect()
}

/// The body of a single-part mail as text: quoted-printable or base64
/// undone, decoded as UTF-8, with LF line ends.
pub fn body_text(raw: &[u8]) -> String {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
        .unwrap_or(raw.len());
    let body = &raw[split..];
    let encoding = header(raw, "Content-Transfer-Encoding")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let bytes = match encoding.as_str() {
        "quoted-printable" => unquote(body),
        "base64" => {
            let packed: Vec<u8> = body
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(packed)
                .expect("a base64 body")
        }
        _ => body.to_vec(),
    };
    String::from_utf8(bytes)
        .expect("a UTF-8 body")
        .replace("\r\n", "\n")
}

/// Undoes quoted-printable (RFC 2045 §6.7): `=XX` is a byte, `=` at a
/// line's end joins it to the next.
fn unquote(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        if body[i] != b'=' {
            out.push(body[i]);
            i += 1;
            continue;
        }
        let rest = &body[i + 1..];
        if rest.starts_with(b"\r\n") {
            i += 3;
        } else if rest.starts_with(b"\n") {
            i += 2;
        } else {
            let hex = std::str::from_utf8(&rest[..2.min(rest.len())]).unwrap();
            out.push(u8::from_str_radix(hex, 16).expect("=XX in quoted-printable"));
            i += 3;
        }
    }
    out
}

// ---------------------------------------------------------------------------
// The SMTP sender against the sink.

const FROM: &str = "Layanan Pengaduan <aduan@example-kab.go.id>";
const CODE: &str = "SLR-7K3Q-9XPA";
const CITIZEN_ID: &str = "CAF=x7Qm+3kd.1@mail.example.net";
const ACK_TEXT: &str = "Yth. Bapak/Ibu,\n\n\
    Terima kasih, pengaduan Anda tentang jalan berlubang di Jl. Merdeka sudah kami terima.\n\
    Nomor pelacakan: SLR-7K3Q-9XPA — simpan nomor ini.\n\
    Tindak lanjut paling lambat 3×24 jam; balas surel ini untuk menambah keterangan “foto, lokasi”.\n\n\
    Salam,\nDinas PUPR Kabupaten";

fn subjects() -> Subjects {
    Subjects {
        acknowledgement: "Pengaduan Anda sudah kami terima".into(),
        status_notice: "Status pengaduan Anda berubah".into(),
        other: "Layanan Pengaduan".into(),
    }
}

fn reply(
    to: &str,
    kind: ReplyKind,
    code: Option<&str>,
    in_reply_to: Option<&str>,
) -> OutboundReply {
    OutboundReply {
        channel_name: "email-utama".into(),
        to: format!("email:{to}"),
        text: ACK_TEXT.into(),
        in_reply_to: in_reply_to.map(str::to_owned),
        tracking_code: code.map(str::to_owned),
        kind,
        last_inbound_at: None,
        window_closed: false,
        presentation: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledgement_arrives_threaded_and_marked_automatic() {
    let Some(sink) = SmtpSink::start().await else {
        return;
    };
    let sender = EmailSender::new(sink.config(FROM), subjects()).unwrap();
    assert_eq!(sender.message_id_domain(), "example-kab.go.id");
    let receipt = sender
        .send(&reply(
            "warga@example.net",
            ReplyKind::Acknowledgement,
            Some(CODE),
            Some(CITIZEN_ID),
        ))
        .await
        .unwrap();
    let id = receipt
        .provider_message_id
        .expect("the receipt names our mail");

    let got = sink.wait(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    let mail = &got[0];
    if std::env::var_os("SALUR_SHOW_MAIL").is_some() {
        eprintln!("{}", String::from_utf8_lossy(&mail.raw));
    }
    assert_eq!(mail.mail_from, "aduan@example-kab.go.id");
    assert_eq!(mail.rcpt_to, ["warga@example.net"]);
    // lettre quotes every display name: `"Layanan Pengaduan" <aduan@…>`.
    assert_eq!(mail.header("From").unwrap().replace('"', ""), FROM);
    assert_eq!(mail.header("To").unwrap(), "warga@example.net");
    assert_eq!(
        mail.header("Subject").unwrap(),
        "[SLR-7K3Q-9XPA] Pengaduan Anda sudah kami terima"
    );
    assert_eq!(mail.header("Auto-Submitted").unwrap(), "auto-replied");
    assert_eq!(mail.header("X-Auto-Response-Suppress").unwrap(), "All");
    assert_eq!(
        mail.header("In-Reply-To").unwrap(),
        format!("<{CITIZEN_ID}>")
    );
    assert_eq!(
        mail.header("References").unwrap(),
        format!("<{CITIZEN_ID}>")
    );
    assert_eq!(mail.header("Message-ID").unwrap(), format!("<{id}>"));
    let (local, domain) = id.split_once('@').unwrap();
    assert_eq!(domain, sender.message_id_domain());
    assert!(local.starts_with("salur.") && local.len() >= 6 + 16, "{id}");
    assert!(mail.header("Date").is_some());
    assert_eq!(mail.header("MIME-Version").unwrap(), "1.0");
    let content_type = mail.header("Content-Type").unwrap().to_ascii_lowercase();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    assert!(content_type.contains("charset=utf-8"), "{content_type}");
    assert_eq!(mail.text().trim_end(), ACK_TEXT);
    // Nothing in the mail is left raw: the body's encoding carries the
    // UTF-8, so no server needs 8BITMIME.
    assert!(mail.raw.is_ascii());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_without_a_code_or_a_parent_is_plain_and_the_connection_is_reused() {
    let Some(sink) = SmtpSink::start().await else {
        return;
    };
    let sender = EmailSender::new(sink.config(FROM), subjects()).unwrap();
    let first = sender
        .send(&reply(
            "warga@example.net",
            ReplyKind::StatusNotice,
            None,
            None,
        ))
        .await
        .unwrap();
    // lettre puts a connection back in its pool from a task of its own
    // after the send has returned; give that task a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = sender
        .send(&reply(
            "warga2@example.net",
            ReplyKind::Prompt,
            Some(CODE),
            Some("<>"),
        ))
        .await
        .unwrap();
    assert_ne!(first.provider_message_id, second.provider_message_id);

    let got = sink.wait(2, Duration::from_secs(10)).await;
    assert_eq!(
        got[0].header("Subject").unwrap(),
        "Status pengaduan Anda berubah"
    );
    assert_eq!(got[0].header("In-Reply-To"), None);
    assert_eq!(got[0].header("References"), None);
    assert_eq!(got[0].header("Auto-Submitted").unwrap(), "auto-replied");
    assert_eq!(got[1].rcpt_to, ["warga2@example.net"]);
    assert_eq!(got[0].peer, got[1].peer, "one pooled connection for both");
    assert_eq!(
        got[1].header("Subject").unwrap(),
        "[SLR-7K3Q-9XPA] Layanan Pengaduan"
    );
    // An id that cannot be written back only loses the threading.
    assert_eq!(got[1].header("In-Reply-To"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_recipients_are_permanent_or_transient_as_the_server_says() {
    let Some(sink) = SmtpSink::start().await else {
        return;
    };
    let sender = EmailSender::new(sink.config(FROM), subjects()).unwrap();
    let ack = |to: &str| reply(to, ReplyKind::Acknowledgement, Some(CODE), None);

    match sender.send(&ack("unknown.warga@example.net")).await {
        Err(ChannelError::Permanent(words)) => {
            assert!(words.contains("user unknown"), "{words}");
            assert!(words.contains("550"), "{words}");
        }
        other => panic!("expected Permanent, got {other:?}"),
    }
    match sender.send(&ack("later.warga@example.net")).await {
        Err(ChannelError::Transient(words)) => {
            assert!(words.contains("try again later"), "{words}");
        }
        other => panic!("expected Transient, got {other:?}"),
    }
    // A handle that is not an address is refused before any connection.
    match sender
        .send(&reply("x", ReplyKind::Acknowledgement, None, None))
        .await
    {
        Err(ChannelError::Permanent(_)) => {}
        other => panic!("expected Permanent, got {other:?}"),
    }
    let mut telegram = ack("x");
    telegram.to = "telegram:42".into();
    assert!(matches!(
        sender.send(&telegram).await,
        Err(ChannelError::Permanent(_))
    ));
    // The refusals left nothing broken behind them.
    sender.send(&ack("warga@example.net")).await.unwrap();
    let got = sink.wait(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0].rcpt_to, ["warga@example.net"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_port_is_transient() {
    let cfg = SmtpConfig {
        host: "127.0.0.1".into(),
        port: crate::support::free_port(),
        security: SmtpSecurity::Plain,
        username: None,
        password: None,
        from: FROM.into(),
        timeout: Duration::from_secs(5),
        ca_certificates: Vec::new(),
    };
    let sender = EmailSender::new(cfg, subjects()).unwrap();
    let r = reply(
        "warga@example.net",
        ReplyKind::Acknowledgement,
        Some(CODE),
        None,
    );
    match sender.send(&r).await {
        Err(ChannelError::Transient(_)) => {}
        other => panic!("expected Transient, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_is_transient_within_the_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accepts, and never says a word.
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            held.push(socket);
        }
    });
    let cfg = SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        security: SmtpSecurity::Plain,
        username: Some("aduan".into()),
        password: Some("rahasia-sekali".into()),
        from: FROM.into(),
        timeout: Duration::from_millis(500),
        ca_certificates: Vec::new(),
    };
    let sender = EmailSender::new(cfg, subjects()).unwrap();
    let r = reply(
        "warga@example.net",
        ReplyKind::Acknowledgement,
        Some(CODE),
        None,
    );
    let outcome = tokio::time::timeout(Duration::from_secs(10), sender.send(&r))
        .await
        .expect("the sender's own timeout ends the send");
    match outcome {
        Err(ChannelError::Transient(words)) => {
            assert!(!words.contains("rahasia"), "{words}");
        }
        other => panic!("expected Transient, got {other:?}"),
    }
    silent.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_smtp_to_a_remote_host_is_refused() {
    let cfg = SmtpConfig {
        host: "smtp.example-kab.go.id".into(),
        port: 25,
        security: SmtpSecurity::Plain,
        username: Some("aduan".into()),
        password: Some("rahasia-sekali".into()),
        from: FROM.into(),
        timeout: Duration::from_secs(5),
        ca_certificates: Vec::new(),
    };
    match EmailSender::new(cfg.clone(), subjects()) {
        Err(ChannelError::InvalidField { field, reason }) => {
            assert_eq!(field, "security");
            assert!(!reason.contains("rahasia"), "{reason}");
        }
        other => panic!("expected InvalidField, got {other:?}"),
    }
    assert!(!format!("{cfg:?}").contains("rahasia"));
    let tls = SmtpConfig {
        security: SmtpSecurity::StartTls,
        port: 587,
        ..cfg.clone()
    };
    assert!(EmailSender::new(tls, subjects()).is_ok());
    let bad_from = SmtpConfig {
        host: "127.0.0.1".into(),
        from: "Layanan Pengaduan".into(),
        ..cfg
    };
    assert!(matches!(
        EmailSender::new(bad_from, subjects()),
        Err(ChannelError::InvalidField { field, .. }) if field == "from"
    ));
}

#[test]
fn headers_are_unfolded_and_bodies_decoded() {
    let raw = b"Subject: [SLR-1] a\r\n long\r\n\tsubject\r\nX-A: 1\r\n\
        Content-Transfer-Encoding: quoted-printable\r\n\r\n\
        3=C3=9724 jam =E2=80=94 ok=\r\n tidak\r\n";
    assert_eq!(header(raw, "subject").unwrap(), "[SLR-1] a long\tsubject");
    assert_eq!(header(raw, "X-A").unwrap(), "1");
    assert_eq!(header(raw, "X-B"), None);
    assert_eq!(body_text(raw), "3×24 jam — ok tidak\n");
}
