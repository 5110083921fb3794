//! A real Kannel on loopback for the end-to-end SMS tests: bearerbox, smsbox
//! and fakesmsc run as child processes, configured in a temporary folder on
//! free ports. [`KannelRig::inject`] sends a mobile-originated (MO) SMS
//! through fakesmsc and bearerbox to smsbox, which calls the test's
//! `get-url`; replies sent through smsbox's `sendsms` interface come out at
//! fakesmsc and are collected by [`KannelRig::received`].
//!
//! When the Kannel binaries are missing the rig is skipped with a printed
//! reason, or fails under `SALUR_TEST_REQUIRE_SERVICES=1`, as the other
//! services in [`crate::support`] do. The facts it relies on (Kannel 1.4.5,
//! Debian 12 packages `kannel` and `kannel-extras`) are noted where they
//! matter.

// Part of the API is for the end-to-end test, not for the rig's own checks.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::support::services_required;

/// The `smsc-id` of the fake SMSC connection; it arrives as `%i`.
pub const SMSC_ID: &str = "fakesmsc";
const SENDSMS_USER: &str = "salur";
const SENDSMS_PASSWORD: &str = "salur-sendsms-test";
const ADMIN_PASSWORD: &str = "salur-admin-test";
const STATUS_PASSWORD: &str = "salur-status-test";
/// How long the three processes get to connect to each other.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long fakesmsc gets to take one chunk of an MO line from its stdin.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);
/// fakesmsc reads its stdin with `fgets` into a 256-byte buffer, so one
/// read takes at most 255 bytes; a longer line is sent in several reads.
const FAKESMSC_READ: usize = 255;

/// The coding an injected MO SMS arrives with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoCoding {
    /// fakesmsc type `text`: Kannel coding 0 (`%c=0`), the text kept as
    /// UTF-8 (`%C=UTF-8`), as a real SMSC's GSM 7-bit message would be.
    Gsm,
    /// fakesmsc type `ucs2`: Kannel coding 2 (`%c=2`), the text as UTF-16BE
    /// bytes (`%C=UTF-16BE`).
    Ucs2,
}

/// One mobile-terminated (MT) message as fakesmsc printed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MtMessage {
    /// Sender (the `from` given to sendsms).
    pub from: String,
    /// Receiver (the `to` given to sendsms).
    pub to: String,
    /// fakesmsc's type word: `text`, `data`, `ucs-2` or `udh`.
    pub kind: String,
    /// The user data header, for `udh` lines (parts of a long message).
    pub udh: Vec<u8>,
    /// The message bytes: UTF-8 for `text`, UTF-16BE for `ucs-2`.
    pub data: Vec<u8>,
}

impl MtMessage {
    /// The message text, decoded by its type: UTF-16BE for `ucs-2`, UTF-8
    /// for `text` and `data`. A `udh` part does not say its coding, so it is
    /// read as UTF-16BE when it holds a zero byte or is not UTF-8.
    pub fn text(&self) -> String {
        decode_mt(&self.kind, &self.data)
    }

    /// For a part of a concatenated message: (reference, parts, this
    /// part's number from 1), from the UDH's 8- or 16-bit concatenation
    /// element.
    pub fn part(&self) -> Option<(u16, u8, u8)> {
        concatenation(&self.udh)
    }
}

/// A running bearerbox, smsbox and fakesmsc; all three are killed on drop.
pub struct KannelRig {
    // Fields drop in this order: fakesmsc's stdin, the three processes,
    // then the folder with the config, logs and store.
    input: tokio::sync::Mutex<Injector>,
    fakesmsc: Proc,
    smsbox: Proc,
    bearerbox: Proc,
    output: Arc<Output>,
    sent: watch::Receiver<u64>,
    ports: Ports,
    http: reqwest::Client,
    started_in: Duration,
    dir: tempfile::TempDir,
}

impl KannelRig {
    /// Starts Kannel with one `sms-service` whose `get-url` is `get_url`
    /// (Kannel escapes such as `%I`, `%p`, `%b` are expanded by smsbox), and
    /// waits until fakesmsc and smsbox are connected to bearerbox.
    ///
    /// Returns `None` when the Kannel binaries are absent (the test should
    /// return early); panics, with the logs, when Kannel does not start.
    pub async fn start(get_url: &str) -> Option<KannelRig> {
        let bins = Binaries::find_or_skip()?;
        assert!(
            !get_url.contains('"'),
            "a get-url must not contain a double quote"
        );
        Some(Self::launch(&bins, get_url).await)
    }

    /// Writes the config, starts the three processes and waits for them.
    async fn launch(bins: &Binaries, get_url: &str) -> KannelRig {
        let started = Instant::now();
        let dir = tempfile::tempdir().expect("temporary folder for Kannel");
        let ports = Ports::free();
        let conf = dir.path().join("kannel.conf");
        std::fs::write(&conf, config(dir.path(), &ports, get_url)).expect("write kannel.conf");
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("HTTP client");

        let mut bearerbox = Proc::spawn(
            "bearerbox",
            Command::new(&bins.bearerbox).args(["-v", "2"]).arg(&conf),
            dir.path(),
        );
        let status_url = ports.status_url();
        wait_until(
            dir.path(),
            "bearerbox's admin interface",
            &mut [&mut bearerbox],
            || async { fetch_status(&http, &status_url).await.is_some() },
        )
        .await;
        let smsbox = Proc::spawn(
            "smsbox",
            Command::new(&bins.smsbox).args(["-v", "2"]).arg(&conf),
            dir.path(),
        );
        let (fakesmsc, stdin, stderr) = spawn_fakesmsc(&bins.fakesmsc, ports.smsc, dir.path());
        let (sent_tx, sent) = watch::channel(0);
        let output = Arc::new(Output::default());
        let log = File::create(dir.path().join("fakesmsc.log")).expect("create fakesmsc.log");
        let reader_output = output.clone();
        std::thread::spawn(move || read_fakesmsc(stderr, log, &sent_tx, &reader_output));

        let mut rig = KannelRig {
            input: tokio::sync::Mutex::new(Injector { stdin, reads: 0 }),
            fakesmsc,
            smsbox,
            bearerbox,
            output,
            sent,
            ports,
            http,
            started_in: Duration::ZERO,
            dir,
        };
        rig.wait_connected().await;
        rig.started_in = started.elapsed();
        rig
    }

    /// smsbox's sendsms URL (`http://127.0.0.1:PORT/cgi-bin/sendsms`); it
    /// takes `username`, `password`, `from`, `to`, `text`, and optionally
    /// `charset` and `coding` (`2` for UCS-2) as query parameters.
    pub fn sendsms_url(&self) -> String {
        format!("http://127.0.0.1:{}/cgi-bin/sendsms", self.ports.sendsms)
    }

    /// The sendsms user name and password.
    pub fn sendsms_user(&self) -> (&str, &str) {
        (SENDSMS_USER, SENDSMS_PASSWORD)
    }

    /// How long [`KannelRig::start`] took until everything was connected.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// Sends one MO SMS through fakesmsc: GSM 7-bit when every character of
    /// `text` is in the GSM default alphabet (line breaks excepted, which
    /// fakesmsc's line protocol cannot carry in plain text), UCS-2 otherwise.
    /// Returns once fakesmsc has passed it to bearerbox.
    pub async fn inject(&self, from: &str, to: &str, text: &str) {
        let coding = if is_gsm_text(text) {
            MoCoding::Gsm
        } else {
            MoCoding::Ucs2
        };
        self.inject_as(from, to, text, coding).await;
    }

    /// Sends one MO SMS through fakesmsc with the given coding.
    ///
    /// fakesmsc polls its stdin with `select` but reads it with `fgets`:
    /// lines that reach its stdio buffer together are stuck there until more
    /// input arrives. So every read-sized chunk of a line is written alone,
    /// and the next one only after fakesmsc has logged that it sent it.
    pub async fn inject_as(&self, from: &str, to: &str, text: &str, coding: MoCoding) {
        let line = mo_line(from, to, text, coding);
        let mut input = self.input.lock().await;
        for chunk in fakesmsc_chunks(&line) {
            // A blocking write, but of at most 255 bytes into a pipe that
            // fakesmsc keeps empty.
            if let Err(e) = input.stdin.write_all(chunk) {
                self.fail(&format!("writing to fakesmsc failed: {e}"));
            }
            input.reads += 1;
            let target = input.reads;
            let mut sent = self.sent.clone();
            let acked = tokio::time::timeout(ACK_TIMEOUT, sent.wait_for(|n| *n >= target)).await;
            if !matches!(acked, Ok(Ok(_))) {
                self.fail("fakesmsc did not take an MO message from its stdin");
            }
        }
    }

    /// The MT messages fakesmsc has received so far, as (from, to, text),
    /// in arrival order. Kannel splits a long reply into parts (140 octets
    /// each); the parts of one are joined here, and a message whose parts
    /// have not all arrived yet is left out.
    pub fn received(&self) -> Vec<(String, String, String)> {
        join_parts(&self.received_raw())
    }

    /// The MT messages fakesmsc has received so far, undecoded and with
    /// each part of a long message on its own.
    pub fn received_raw(&self) -> Vec<MtMessage> {
        self.output
            .received
            .lock()
            .expect("received messages lock")
            .clone()
    }

    /// Waits until fakesmsc has received at least `count` MT messages or
    /// `timeout` has passed, and returns what it has. fakesmsc looks at its
    /// bearerbox connection about once a second when its stdin is idle.
    pub async fn wait_received(
        &self,
        count: usize,
        timeout: Duration,
    ) -> Vec<(String, String, String)> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= count || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// bearerbox's `status.txt` page: connections, queues and counters.
    pub async fn status(&self) -> String {
        fetch_status(&self.http, &self.ports.status_url())
            .await
            .unwrap_or_else(|| "bearerbox's status page is unavailable".to_owned())
    }

    /// The tails of the rig's log files, for a failure message.
    pub fn logs(&self) -> String {
        logs(self.dir.path())
    }

    /// Waits until bearerbox's status shows the fake SMSC online and smsbox
    /// connected, and smsbox's sendsms port answers.
    async fn wait_connected(&mut self) {
        let http = &self.http;
        let status_url = self.ports.status_url();
        let sendsms = format!("127.0.0.1:{}", self.ports.sendsms);
        wait_until(
            self.dir.path(),
            "fakesmsc and smsbox to connect",
            &mut [&mut self.bearerbox, &mut self.smsbox, &mut self.fakesmsc],
            || async {
                // The SMSC line reads `(online 3s, …` once fakesmsc is
                // connected; `smsbox:` is listed once smsbox is.
                let status = fetch_status(http, &status_url).await.unwrap_or_default();
                status.contains("(online")
                    && status.contains("smsbox:")
                    && tokio::net::TcpStream::connect(&sendsms).await.is_ok()
            },
        )
        .await;
    }

    fn fail(&self, what: &str) -> ! {
        panic!("Kannel rig: {what}\n{}", self.logs())
    }
}

/// Paths of the three Kannel programs.
struct Binaries {
    bearerbox: PathBuf,
    smsbox: PathBuf,
    fakesmsc: PathBuf,
}

impl Binaries {
    /// The programs, or `None` (skip) with a printed reason when one is
    /// missing; a panic instead when services are required.
    fn find_or_skip() -> Option<Self> {
        match Self::find() {
            Ok(bins) => Some(bins),
            Err(missing) if services_required() => panic!(
                "Kannel is required (SALUR_TEST_REQUIRE_SERVICES=1) but {missing} was not \
                 found; install the Debian packages kannel and kannel-extras"
            ),
            Err(missing) => {
                eprintln!("SKIP: Kannel not installed ({missing} not found)");
                None
            }
        }
    }

    /// Looks in the Debian locations, then `/usr/local`, then `PATH`;
    /// `Err` names the first program not found.
    fn find() -> Result<Self, &'static str> {
        let sbin = ["/usr/sbin", "/usr/local/sbin"];
        let test = ["/usr/lib/kannel/test", "/usr/local/lib/kannel/test"];
        Ok(Self {
            bearerbox: find_program("bearerbox", &sbin).ok_or("bearerbox")?,
            smsbox: find_program("smsbox", &sbin).ok_or("smsbox")?,
            fakesmsc: find_program("fakesmsc", &test).ok_or("fakesmsc (kannel-extras)")?,
        })
    }
}

fn find_program(name: &str, dirs: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    dirs.iter()
        .map(PathBuf::from)
        .chain(std::env::split_paths(&path))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The loopback ports the rig listens on.
struct Ports {
    /// bearerbox's admin and status HTTP interface.
    admin: u16,
    /// bearerbox's port for smsbox connections.
    smsbox: u16,
    /// The fake SMSC's port, which fakesmsc connects to.
    smsc: u16,
    /// smsbox's sendsms HTTP interface.
    sendsms: u16,
}

impl Ports {
    /// Four distinct free ports, found by binding `127.0.0.1:0`.
    fn free() -> Self {
        let listeners: Vec<std::net::TcpListener> = (0..4)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port"))
            .collect();
        let port = |i: usize| listeners[i].local_addr().expect("local address").port();
        Self {
            admin: port(0),
            smsbox: port(1),
            smsc: port(2),
            sendsms: port(3),
        }
    }

    fn status_url(&self) -> String {
        format!(
            "http://127.0.0.1:{}/status.txt?password={STATUS_PASSWORD}",
            self.admin
        )
    }
}

/// The whole Kannel configuration: bearerbox with one fake SMSC, smsbox with
/// sendsms, one sendsms user and one catch-all service calling `get_url`.
fn config(dir: &Path, ports: &Ports, get_url: &str) -> String {
    let d = dir.display();
    format!(
        r#"group = core
admin-port = {admin}
admin-interface = "127.0.0.1"
admin-password = "{ADMIN_PASSWORD}"
status-password = "{STATUS_PASSWORD}"
admin-allow-ip = "127.0.0.1"
smsbox-port = {smsbox}
smsbox-interface = "127.0.0.1"
box-allow-ip = "127.0.0.1"
log-file = "{d}/bearerbox.log"
log-level = 1
access-log = "{d}/bearerbox-access.log"
store-type = file
store-location = "{d}/bearerbox.store"

group = smsc
smsc = fake
smsc-id = {SMSC_ID}
our-host = "127.0.0.1"
port = {smsc}
connect-allow-ip = "127.0.0.1"

group = smsbox
bearerbox-host = "127.0.0.1"
bearerbox-port = {smsbox}
sendsms-port = {sendsms}
sendsms-interface = "127.0.0.1"
log-file = "{d}/smsbox.log"
log-level = 1
access-log = "{d}/smsbox-access.log"
http-request-retry = 3
http-queue-delay = 1

group = sendsms-user
username = "{SENDSMS_USER}"
password = "{SENDSMS_PASSWORD}"
concatenation = true
max-messages = 10

group = sms-service
keyword = default
catch-all = true
max-messages = 0
get-url = "{get_url}"
"#,
        admin = ports.admin,
        smsbox = ports.smsbox,
        smsc = ports.smsc,
        sendsms = ports.sendsms,
    )
}

/// A child process that dies with the rig, and with the test process: a
/// watchdog shell holds a pipe from us and kills the child when the pipe
/// closes, so even a killed test run leaves no Kannel behind.
struct Proc {
    name: &'static str,
    child: Child,
    watchdog: Option<Child>,
}

impl Proc {
    /// Spawns `cmd` with stdout and stderr in `<dir>/<name>.out`.
    fn spawn(name: &'static str, cmd: &mut Command, dir: &Path) -> Self {
        let out = File::create(dir.join(format!("{name}.out"))).expect("create console log");
        let err = out.try_clone().expect("clone console log");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self::guard(name, child)
    }

    fn guard(name: &'static str, child: Child) -> Self {
        const WATCHDOG: &str = r#"read -r _; kill -9 "$1" 2>/dev/null"#;
        let watchdog = Command::new("sh")
            .args(["-c", WATCHDOG, "kannel-watchdog"])
            .arg(child.id().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok();
        Self {
            name,
            child,
            watchdog,
        }
    }

    /// Panics, with the logs, when the process has already exited.
    fn check_alive(&mut self, dir: &Path) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "Kannel rig: {} exited early ({status})\n{}",
                self.name,
                logs(dir)
            );
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // The watchdog kills the child while it is still unreaped, so its
        // pid cannot have been reused; then we reap both.
        if let Some(mut watchdog) = self.watchdog.take() {
            drop(watchdog.stdin.take());
            let _ = watchdog.wait();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// fakesmsc in interactive mode (no messages on its command line): MO lines
/// on stdin, its log (sent and received messages) on stderr.
fn spawn_fakesmsc(program: &Path, port: u16, dir: &Path) -> (Proc, ChildStdin, ChildStderr) {
    // `-i 0`: no pause between messages; `-v 0`: debug logging, which
    // carries the `sent message N` and `Got message N: <…>` lines.
    let mut child = Command::new(program)
        .args(["-H", "127.0.0.1", "-i", "0", "-v", "0", "-r"])
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start fakesmsc: {e}\n{}", logs(dir)));
    let stdin = child.stdin.take().expect("fakesmsc stdin");
    let stderr = child.stderr.take().expect("fakesmsc stderr");
    (Proc::guard("fakesmsc", child), stdin, stderr)
}

/// The writing end of fakesmsc's stdin and how many reads it was given.
struct Injector {
    stdin: ChildStdin,
    reads: u64,
}

/// What the fakesmsc reader thread collected.
#[derive(Default)]
struct Output {
    received: Mutex<Vec<MtMessage>>,
}

/// Copies fakesmsc's log to `log`, counts the MO lines it sent and collects
/// the MT lines it got, until fakesmsc exits.
fn read_fakesmsc(stderr: ChildStderr, mut log: File, sent: &watch::Sender<u64>, output: &Output) {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let _ = log.write_all(&line);
        let line = line.strip_suffix(b"\n").unwrap_or(&line);
        if let Some(n) = after(line, b"fakesmsc: sent message ") {
            let n = std::str::from_utf8(n)
                .ok()
                .and_then(|n| n.trim().parse().ok());
            if let Some(n) = n {
                sent.send_replace(n);
            }
        } else if let Some(body) = mt_body(line) {
            let mut received = output.received.lock().expect("received messages lock");
            push_mt(&mut received, body);
        }
    }
}

/// The `<…>` of fakesmsc's `Got message N: <from to type data>` log line.
fn mt_body(line: &[u8]) -> Option<&[u8]> {
    let rest = after(line, b"Got message ")?;
    let start = rest.windows(3).position(|w| w == b": <")? + 3;
    let body = &rest[start..];
    Some(body.strip_suffix(b">").unwrap_or(body))
}

/// Adds one MT line. A `text` message with a line break reaches fakesmsc as
/// several lines: a line that is not `from to type …` continues the last one.
fn push_mt(received: &mut Vec<MtMessage>, body: &[u8]) {
    match parse_mt(body) {
        Some(m) => received.push(m),
        None => match received.last_mut() {
            Some(last) if last.kind == "text" => {
                last.data.push(b'\n');
                last.data.extend_from_slice(body);
            }
            _ => {}
        },
    }
}

/// Parses `from to text <raw>`, `from to data <url>`, `from to ucs-2 <url>`
/// or `from to udh <url> data <url>` (Kannel's `smsc_fake.c` output).
fn parse_mt(body: &[u8]) -> Option<MtMessage> {
    let mut fields = body.splitn(4, |b| *b == b' ');
    let from = String::from_utf8_lossy(fields.next()?).into_owned();
    let to = String::from_utf8_lossy(fields.next()?).into_owned();
    let kind = std::str::from_utf8(fields.next()?).ok()?.to_owned();
    let rest = fields.next().unwrap_or_default();
    let (udh, data) = match kind.as_str() {
        "text" => (Vec::new(), rest.to_vec()),
        "data" | "ucs-2" => (Vec::new(), url_decode(rest)),
        "udh" => {
            let at = rest.windows(6).position(|w| w == b" data ")?;
            (url_decode(&rest[..at]), url_decode(&rest[at + 6..]))
        }
        _ => return None,
    };
    Some(MtMessage {
        from,
        to,
        kind,
        udh,
        data,
    })
}

/// Joins the parts of concatenated messages and decodes every message.
fn join_parts(raw: &[MtMessage]) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (i, m) in raw.iter().enumerate() {
        let Some((reference, total, number)) = m.part() else {
            out.push((m.from.clone(), m.to.clone(), m.text()));
            continue;
        };
        if number != 1 {
            continue;
        }
        let same = |o: &&MtMessage| {
            o.from == m.from
                && o.to == m.to
                && o.part()
                    .is_some_and(|(r, t, _)| r == reference && t == total)
        };
        let parts: Vec<&MtMessage> = raw[i..].iter().filter(same).collect();
        let data: Option<Vec<Vec<u8>>> = (1..=total)
            .map(|n| {
                parts
                    .iter()
                    .find(|p| p.part().is_some_and(|(_, _, k)| k == n))
                    .map(|p| p.data.clone())
            })
            .collect();
        if let Some(data) = data {
            out.push((
                m.from.clone(),
                m.to.clone(),
                decode_mt(&m.kind, &data.concat()),
            ));
        }
    }
    out
}

/// The concatenation element of a UDH: IEI 0 (8-bit reference) or 8
/// (16-bit reference), as (reference, parts, number).
fn concatenation(udh: &[u8]) -> Option<(u16, u8, u8)> {
    let mut ies = udh.get(1..)?;
    while let [iei, len, rest @ ..] = ies {
        let len = usize::from(*len);
        let value = rest.get(..len)?;
        match (iei, value) {
            (0, [r, t, n]) => return Some((u16::from(*r), *t, *n)),
            (8, [r1, r2, t, n]) => return Some((u16::from_be_bytes([*r1, *r2]), *t, *n)),
            _ => ies = &rest[len..],
        }
    }
    None
}

/// Decodes MT bytes by fakesmsc's type word (see [`MtMessage::text`]).
fn decode_mt(kind: &str, data: &[u8]) -> String {
    let utf16 = match kind {
        "ucs-2" => true,
        "udh" => data.contains(&0) || std::str::from_utf8(data).is_err(),
        _ => false,
    };
    if utf16 {
        utf16be_to_string(data)
    } else {
        String::from_utf8_lossy(data).into_owned()
    }
}

/// fakesmsc's MO line, with its line end: `from to text <text>` or
/// `from to ucs2 <url-encoded UTF-16BE>`.
///
/// fakesmsc skips a read shorter than 2 bytes, so a line whose last read
/// would be a lone `\n` ends in `\r\n` instead (Kannel strips the `\r`).
fn mo_line(from: &str, to: &str, text: &str, coding: MoCoding) -> Vec<u8> {
    let plain_number = |n: &str| !n.is_empty() && !n.contains(char::is_whitespace);
    assert!(
        plain_number(from) && plain_number(to),
        "MO numbers must be non-empty and without spaces"
    );
    let mut line = match coding {
        MoCoding::Gsm => {
            assert!(
                !text.contains(['\n', '\r']),
                "fakesmsc cannot carry a line break in a text message; use UCS-2"
            );
            format!("{from} {to} text {text}").into_bytes()
        }
        MoCoding::Ucs2 => {
            let utf16: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
            format!("{from} {to} ucs2 {}", url_encode(&utf16)).into_bytes()
        }
    };
    if line.len() % FAKESMSC_READ == 0 {
        line.push(b'\r');
    }
    line.push(b'\n');
    line
}

/// Splits an MO line into the pieces fakesmsc reads one at a time.
fn fakesmsc_chunks(line: &[u8]) -> std::slice::Chunks<'_, u8> {
    line.chunks(FAKESMSC_READ)
}

/// Whether every character is in the GSM 03.38 default alphabet or its
/// extension table; line breaks do not count (see [`mo_line`]).
pub fn is_gsm_text(text: &str) -> bool {
    const BASIC: &str = "@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                         ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
    const EXTENSION: &str = "^{}\\[~]|€";
    text.chars()
        .all(|c| BASIC.contains(c) || EXTENSION.contains(c))
}

/// Percent-encodes bytes, leaving ASCII letters and digits as they are.
/// (The root crate has no URL-encoding dependency; this is test-only.)
pub fn url_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Decodes `%XX` and `+` (a space) into bytes, as Kannel encodes `%b`, `%a`
/// and fakesmsc's `data`/`ucs-2` fields; other bytes are kept as they are.
pub fn url_decode(s: &[u8]) -> Vec<u8> {
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let escaped = (s[i] == b'%')
            .then(|| s.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| Some(hex(h[0])? * 16 + hex(h[1])?))
            .and_then(|v| u8::try_from(v).ok());
        match escaped {
            Some(v) => {
                out.push(v);
                i += 3;
            }
            None => {
                out.push(if s[i] == b'+' { b' ' } else { s[i] });
                i += 1;
            }
        }
    }
    out
}

/// The raw, decoded bytes of query parameter `name` in a query string as
/// smsbox sends it (binary-safe, unlike a UTF-8 form parser).
pub fn query_param(query: &str, name: &str) -> Option<Vec<u8>> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| url_decode(v.as_bytes()))
}

/// Decodes UTF-16BE bytes, lossily.
pub fn utf16be_to_string(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)]))
        .collect();
    String::from_utf16_lossy(&units)
}

/// bearerbox's status page, when it answers.
async fn fetch_status(http: &reqwest::Client, url: &str) -> Option<String> {
    http.get(url).send().await.ok()?.text().await.ok()
}

/// The rest of `haystack` after the first `needle`.
fn after<'a>(haystack: &'a [u8], needle: &[u8]) -> Option<&'a [u8]> {
    let at = haystack.windows(needle.len()).position(|w| w == needle)?;
    Some(&haystack[at + needle.len()..])
}

/// Polls `ready` every 100 ms while `procs` keep running; panics with the
/// logs when one exits or after [`READY_TIMEOUT`].
async fn wait_until<F, Fut>(dir: &Path, what: &str, procs: &mut [&mut Proc], mut ready: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        for p in procs.iter_mut() {
            p.check_alive(dir);
        }
        if ready().await {
            return;
        }
        if Instant::now() > deadline {
            panic!("Kannel rig: timed out waiting for {what}\n{}", logs(dir));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The last lines of every log in the rig's folder.
fn logs(dir: &Path) -> String {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "log" || e == "out"));
    files.sort();
    let mut out = String::new();
    for file in files {
        let text = std::fs::read(&file).unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(40)..];
        let _ = writeln!(out, "==> {} <==\n{}", file.display(), tail.join("\n"));
    }
    out
}
