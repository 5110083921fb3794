//! A real Dovecot 2.3 per test, and the email poller's IMAP client
//! ([`salur_channel_email::imap`]) tested against it.
//!
//! [`Dovecot::start`] writes a config into a temporary folder and runs
//! `dovecot -F -c <conf>` in the foreground: IMAP only, on 127.0.0.1 and a
//! free port, `ssl = no`, plain-text LOGIN allowed, one passwd-file user
//! with a `{PLAIN}` password, Maildir under the folder, and `base_dir`,
//! `state_dir` and the logs in the folder too, so the system's Dovecot is
//! never touched. Run by a normal user, every Dovecot process runs as that
//! user. Run as root (CI), Dovecot will not let its login processes or mail
//! access run as root, so the package's users take those parts:
//! `dovenull` the login processes, `dovecot` the internal services and the
//! mail (its Maildir is handed to it); `auth` stays root to read the
//! passwd-file in the root-owned folder.
//!
//! Mail is loaded and inspected over a bare IMAP connection written here
//! ([`Wire`]), independent of the client under test. [`CutProxy`] sits in
//! front of the server to cut connections, mid-fetch if asked.
//!
//! When Dovecot is not installed the tests are skipped with a printed
//! reason, or fail under `SALUR_TEST_REQUIRE_SERVICES=1`, as the other
//! services in [`crate::support`] do.

#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use salur_channel_email::imap::{ImapConfig, ImapError, ImapSession, Security, Wake};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::watch;

use crate::support::{free_port, services_required};

/// Where Debian's dovecot-core puts the server.
const BINARIES: &[&str] = &["/usr/sbin/dovecot", "/usr/local/sbin/dovecot"];
/// How long a started or restarted Dovecot gets to take a login.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on each exchange of the bare IMAP connection.
const WIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// A running Dovecot with one user; stopped on drop, its folder removed.
pub struct Dovecot {
    /// The IMAP port on 127.0.0.1 (the same after a restart).
    pub port: u16,
    /// The user's login name.
    pub user: String,
    /// The user's password.
    pub password: String,
    binary: PathBuf,
    conf: PathBuf,
    /// The user's Maildir (INBOX; other mailboxes are `.<name>` in it).
    maildir: PathBuf,
    child: Mutex<Option<Child>>,
    // Last: removed after the process has stopped.
    dir: tempfile::TempDir,
}

impl Dovecot {
    /// Starts one, or `None` (printing "SKIP: …") when Dovecot 2.3 is not
    /// installed; a failure instead when
    /// [`crate::support::services_required`]. Panics, with the server's
    /// log, when an installed Dovecot does not start.
    pub async fn start() -> Option<Self> {
        Self::start_with("").await
    }

    /// As [`Dovecot::start`], with `extra` appended to the config (for
    /// example an `imap_capability` line that hides IDLE and MOVE).
    pub async fn start_with(extra: &str) -> Option<Self> {
        let binary = find_binary()?;
        let dir = tempfile::tempdir().expect("temporary folder for Dovecot");
        let owner = fs::metadata(dir.path()).expect("folder metadata");
        let runs_as = RunAs::for_uid(owner.uid(), owner.gid());
        let user = "pengaduan".to_owned();
        let password = "rahasia-uji-123".to_owned();
        let port = free_port();

        let mail = dir.path().join("mail");
        for sub in ["run", "state", "mail"] {
            fs::create_dir(dir.path().join(sub)).expect("Dovecot folder");
        }
        fs::write(
            dir.path().join("users"),
            format!("{user}:{{PLAIN}}{password}::::::\n"),
        )
        .expect("write the passwd-file");
        if runs_as.root {
            // The mail processes run as `dovecot`: they must reach their
            // Maildir through the root-owned folder and own it.
            fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o711))
                .expect("open the folder to the mail user");
            std::os::unix::fs::chown(&mail, Some(runs_as.mail_uid), Some(runs_as.mail_gid))
                .expect("hand the Maildir to the mail user");
        }
        let conf = dir.path().join("dovecot.conf");
        fs::write(&conf, config(dir.path(), port, &runs_as, extra)).expect("write dovecot.conf");

        let dovecot = Self {
            port,
            maildir: mail.join(&user),
            user,
            password,
            binary,
            conf,
            child: Mutex::new(None),
            dir,
        };
        dovecot.launch().await;
        Some(dovecot)
    }

    /// A client config for the user: plain text to 127.0.0.1.
    pub fn config(&self) -> ImapConfig {
        ImapConfig {
            host: "127.0.0.1".into(),
            port: self.port,
            security: Security::Plain,
            username: self.user.clone(),
            password: self.password.clone(),
            timeout: Duration::from_secs(10),
            ca_certificates: Vec::new(),
        }
    }

    /// Appends `raw` to `mailbox` with IMAP APPEND and returns its UID from
    /// the server's `APPENDUID` (0 when the server sends none).
    pub async fn append(&self, mailbox: &str, raw: &[u8]) -> u32 {
        let mut wire = self.wire().await;
        let tagged = wire
            .command_with_literal(&format!("APPEND {}", quoted(mailbox)), raw)
            .await;
        wire.logout().await;
        assert!(tagged.ok, "APPEND to {mailbox}: {}", tagged.line);
        appenduid(&tagged.line).unwrap_or(0)
    }

    /// Creates `mailbox`.
    pub async fn create(&self, mailbox: &str) {
        let mut wire = self.wire().await;
        let tagged = wire.command(&format!("CREATE {}", quoted(mailbox))).await;
        wire.logout().await;
        assert!(tagged.ok, "CREATE {mailbox}: {}", tagged.line);
    }

    /// The flags of message `uid` in `mailbox`, read with EXAMINE so that
    /// looking changes nothing.
    pub async fn flags(&self, mailbox: &str, uid: u32) -> Vec<String> {
        let mut wire = self.wire().await;
        let examined = wire.command(&format!("EXAMINE {}", quoted(mailbox))).await;
        assert!(examined.ok, "EXAMINE {mailbox}: {}", examined.line);
        let fetched = wire.command(&format!("UID FETCH {uid} (FLAGS)")).await;
        wire.logout().await;
        assert!(fetched.ok, "UID FETCH {uid} (FLAGS): {}", fetched.line);
        let line = fetched
            .untagged
            .iter()
            .find(|l| l.contains(" FETCH ") && l.contains(&format!("UID {uid}")))
            .unwrap_or_else(|| panic!("no FETCH for UID {uid}: {:?}", fetched.untagged));
        let start = line.find("FLAGS (").expect("FLAGS in the FETCH") + "FLAGS (".len();
        let end = start + line[start..].find(')').expect("end of FLAGS");
        line[start..end]
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }

    /// Sets `flags` (e.g. `\Seen`) on message `uid` of `mailbox`.
    pub async fn add_flags(&self, mailbox: &str, uid: u32, flags: &str) {
        let mut wire = self.wire().await;
        let selected = wire.command(&format!("SELECT {}", quoted(mailbox))).await;
        assert!(selected.ok, "SELECT {mailbox}: {}", selected.line);
        let stored = wire
            .command(&format!("UID STORE {uid} +FLAGS.SILENT ({flags})"))
            .await;
        wire.logout().await;
        assert!(stored.ok, "UID STORE {uid}: {}", stored.line);
    }

    /// Makes the server give `mailbox` a new UIDVALIDITY, keeping its
    /// messages: Dovecot is stopped, the mailbox's `dovecot-uidlist` and
    /// index files (and the mailbox list index) are deleted, and Dovecot is
    /// started again. It then finds the message files in `cur/` and `new/`
    /// as if restored from a backup, numbers them from UID 1 again and takes
    /// the next UIDVALIDITY from the account's `dovecot-uidvalidity` file,
    /// so the new value always differs from the old.
    pub async fn reset_uidvalidity(&self, mailbox: &str) {
        self.halt().await;
        let dir = if mailbox.eq_ignore_ascii_case("INBOX") {
            self.maildir.clone()
        } else {
            self.maildir.join(format!(".{mailbox}"))
        };
        assert!(
            dir.is_dir(),
            "no Maildir for {mailbox} at {}",
            dir.display()
        );
        remove_matching(&dir, |name| {
            name == "dovecot-uidlist" || name.starts_with("dovecot.index")
        });
        remove_matching(&self.maildir, |name| name.starts_with("dovecot.list.index"));
        self.launch().await;
    }

    /// Stops the server and cuts its sessions (see [`shut_down`]). The
    /// mail stays for [`Dovecot::restart`].
    pub async fn stop(&mut self) {
        self.halt().await;
    }

    /// Starts the server again with the same config, data and port (after
    /// stopping it if it runs), and waits until it takes a login.
    pub async fn restart(&mut self) {
        self.halt().await;
        self.launch().await;
    }

    /// A TCP proxy on another free port in front of this server.
    pub fn proxy(&self) -> CutProxy {
        CutProxy::start(self.port)
    }

    /// A logged-in bare connection.
    async fn wire(&self) -> Wire {
        match Wire::login(self.port, &self.user, &self.password).await {
            Ok(wire) => wire,
            Err(e) => panic!("bare IMAP login to Dovecot: {e}\n{}", self.logs()),
        }
    }

    /// Spawns the server and waits until the user can log in.
    async fn launch(&self) {
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("dovecot.out"))
            .expect("Dovecot output file");
        let err = out.try_clone().expect("Dovecot output file");
        let child = Command::new(&self.binary)
            .arg("-F")
            .arg("-c")
            .arg(&self.conf)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", self.binary.display()));
        *self.child.lock().unwrap() = Some(child);

        let started = Instant::now();
        loop {
            if let Some(status) = self
                .child
                .lock()
                .unwrap()
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("Dovecot exited at start ({status})\n{}", self.logs());
            }
            if let Ok(wire) = Wire::login(self.port, &self.user, &self.password).await {
                wire.logout().await;
                return;
            }
            if started.elapsed() > READY_TIMEOUT {
                panic!(
                    "Dovecot took no login within {READY_TIMEOUT:?}\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the server, if it runs: see [`shut_down`].
    async fn halt(&self) {
        let Some(child) = self.child.lock().unwrap().take() else {
            return;
        };
        tokio::task::spawn_blocking(move || shut_down(child))
            .await
            .expect("stop Dovecot");
    }

    /// The server's log and output, for a failure message.
    fn logs(&self) -> String {
        let mut all = String::new();
        for name in ["dovecot.log", "dovecot.out"] {
            let text = fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
            let _ = write!(all, "--- {name}\n{text}");
        }
        all
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        if let Some(child) = self.child.get_mut().ok().and_then(Option::take) {
            shut_down(child);
        }
    }
}

/// Stops a Dovecot master started in a process group of its own. SIGTERM
/// lets it stop its services, but the `imap` process of an open session
/// outlives it, serving its client to the end; so the whole group is then
/// killed, which cuts every session as a server going down would.
fn shut_down(mut child: Child) {
    let pid = child.id().to_string();
    signal("TERM", &pid);
    let started = Instant::now();
    while child.try_wait().ok().flatten().is_none() && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    signal("KILL", &format!("-{pid}"));
    let _ = child.kill();
    let _ = child.wait();
}

/// Sends `name` to a process id, or to a process group as `-<id>`.
fn signal(name: &str, target: &str) {
    let _ = Command::new("kill")
        .args(["-s", name, "--", target])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The installed Dovecot 2.3, or `None` (skip) when there is none.
fn find_binary() -> Option<PathBuf> {
    let found = BINARIES.iter().map(PathBuf::from).find(|p| p.is_file());
    let version = found.as_ref().and_then(|bin| {
        let out = Command::new(bin).arg("--version").output().ok()?;
        Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    });
    let why = match (&found, &version) {
        (Some(_), Some(v)) if v.starts_with("2.3.") => return found,
        (Some(bin), Some(v)) => format!(
            "{} is Dovecot {v}; these tests configure 2.3",
            bin.display()
        ),
        (Some(bin), None) => format!("{} does not run", bin.display()),
        (None, _) => {
            format!("Dovecot is not installed (looked for {BINARIES:?}; Debian: dovecot-imapd)")
        }
    };
    if services_required() {
        panic!("Dovecot is required (SALUR_TEST_REQUIRE_SERVICES=1): {why}");
    }
    eprintln!("SKIP: {why}");
    None
}

/// Which system users the Dovecot processes run as.
struct RunAs {
    root: bool,
    internal_user: String,
    internal_group: String,
    login_user: String,
    mail_uid: u32,
    mail_gid: u32,
}

impl RunAs {
    /// For a server started by `uid`:`gid`.
    fn for_uid(uid: u32, gid: u32) -> Self {
        let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
        let group = fs::read_to_string("/etc/group").unwrap_or_default();
        let entry = |field: usize, value: &str| {
            passwd
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() > 3 && f[field] == value)
                .map(|f| {
                    (
                        f[0].to_owned(),
                        f[2].parse::<u32>().unwrap(),
                        f[3].parse::<u32>().unwrap(),
                    )
                })
        };
        let group_name = |gid: u32| {
            group
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() > 2 && f[2] == gid.to_string())
                .map(|f| f[0].to_owned())
        };
        if uid == 0 {
            let (name, mail_uid, mail_gid) = entry(0, "dovecot")
                .expect("the `dovecot` user (from the dovecot-core package) exists");
            assert!(
                entry(0, "dovenull").is_some(),
                "the `dovenull` user (from the dovecot-core package) exists"
            );
            Self {
                root: true,
                internal_group: group_name(mail_gid).unwrap_or_else(|| name.clone()),
                internal_user: name,
                login_user: "dovenull".into(),
                mail_uid,
                mail_gid,
            }
        } else {
            let (name, _, _) = entry(2, &uid.to_string())
                .unwrap_or_else(|| panic!("uid {uid} has an /etc/passwd entry"));
            Self {
                root: false,
                internal_group: group_name(gid).unwrap_or_else(|| name.clone()),
                internal_user: name.clone(),
                login_user: name,
                mail_uid: uid,
                mail_gid: gid,
            }
        }
    }
}

/// The whole `dovecot.conf`: nothing is taken from `/etc/dovecot`.
fn config(dir: &Path, port: u16, runs_as: &RunAs, extra: &str) -> String {
    let d = dir.display();
    let RunAs {
        internal_user,
        internal_group,
        login_user,
        mail_uid,
        mail_gid,
        ..
    } = runs_as;
    // As root, `auth` keeps root to read the passwd-file. A normal user can
    // change neither user nor root folder, so the services that chroot by
    // default (`doveconf -d`, 2.3.19) must not.
    let privileged = if runs_as.root {
        "service auth {\n  user = root\n}\n".to_owned()
    } else {
        [
            "aggregator",
            "anvil",
            "director",
            "imap-login",
            "imap-urlauth-login",
            "ipc",
            "old-stats",
            "pop3-login",
            "submission-login",
        ]
        .iter()
        .fold(String::new(), |mut s, service| {
            let _ = writeln!(s, "service {service} {{\n  chroot =\n}}");
            s
        })
    };
    format!(
        r#"# Written by the Salur integration tests; Dovecot 2.3 syntax.
protocols = imap
listen = 127.0.0.1
instance_name = salur-test-{port}
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
debug_log_path = {d}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
first_valid_uid = {mail_uid}
first_valid_gid = {mail_gid}
mail_location = maildir:{d}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/users
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={d}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
{privileged}
{extra}
"#
    )
}

fn remove_matching(dir: &Path, matches: impl Fn(&str) -> bool) {
    for entry in fs::read_dir(dir).expect("read a Maildir") {
        let entry = entry.expect("Maildir entry");
        if entry.file_name().to_str().is_some_and(&matches) {
            fs::remove_file(entry.path()).expect("remove a Dovecot index file");
        }
    }
}

/// An IMAP quoted string.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The UID in a tagged `OK [APPENDUID <validity> <uid>]`.
fn appenduid(line: &str) -> Option<u32> {
    let rest = &line[line.find("[APPENDUID ")? + "[APPENDUID ".len()..];
    let mut words = rest.split([' ', ']']);
    words.next()?;
    words.next()?.parse().ok()
}

/// A tagged completion and the untagged lines before it.
struct Tagged {
    ok: bool,
    line: String,
    untagged: Vec<String>,
}

/// A bare IMAP connection, to load and inspect mail without the client
/// under test. Literals in responses are kept as lossy text in the line.
struct Wire {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    next: u32,
}

impl Wire {
    async fn login(port: u16, user: &str, password: &str) -> Result<Self, String> {
        let connect = TcpStream::connect(("127.0.0.1", port));
        let tcp = tokio::time::timeout(WIRE_TIMEOUT, connect)
            .await
            .map_err(|_| "connect timed out".to_owned())?
            .map_err(|e| e.to_string())?;
        let (read, writer) = tcp.into_split();
        let mut wire = Self {
            reader: BufReader::new(read),
            writer,
            next: 1,
        };
        let greeting = wire.line().await?;
        if !greeting.starts_with("* OK") {
            return Err(format!("greeting: {greeting}"));
        }
        let tagged = wire
            .exchange(
                &format!("LOGIN {} {}", quoted(user), quoted(password)),
                None,
            )
            .await?;
        if tagged.ok {
            Ok(wire)
        } else {
            Err(tagged.line)
        }
    }

    async fn command(&mut self, command: &str) -> Tagged {
        self.exchange(command, None)
            .await
            .unwrap_or_else(|e| panic!("{command}: {e}"))
    }

    /// `command` followed by `literal` as a non-synchronising literal
    /// (LITERAL+, which Dovecot offers).
    async fn command_with_literal(&mut self, command: &str, literal: &[u8]) -> Tagged {
        self.exchange(command, Some(literal))
            .await
            .unwrap_or_else(|e| panic!("{command}: {e}"))
    }

    async fn logout(mut self) {
        let _ = self.exchange("LOGOUT", None).await;
    }

    async fn exchange(&mut self, command: &str, literal: Option<&[u8]>) -> Result<Tagged, String> {
        let tag = format!("w{}", self.next);
        self.next += 1;
        let mut out = format!("{tag} {command}").into_bytes();
        if let Some(literal) = literal {
            out.extend_from_slice(format!(" {{{}+}}\r\n", literal.len()).as_bytes());
            out.extend_from_slice(literal);
        }
        out.extend_from_slice(b"\r\n");
        tokio::time::timeout(WIRE_TIMEOUT, self.writer.write_all(&out))
            .await
            .map_err(|_| "write timed out".to_owned())?
            .map_err(|e| e.to_string())?;
        let mut untagged = Vec::new();
        loop {
            let line = self.line().await?;
            if let Some(rest) = line.strip_prefix(&format!("{tag} ")) {
                return Ok(Tagged {
                    ok: rest.starts_with("OK"),
                    line,
                    untagged,
                });
            }
            untagged.push(line);
        }
    }

    /// One response line without its CRLF, literals included.
    async fn line(&mut self) -> Result<String, String> {
        tokio::time::timeout(WIRE_TIMEOUT, self.line_unbounded())
            .await
            .map_err(|_| "read timed out".to_owned())?
    }

    async fn line_unbounded(&mut self) -> Result<String, String> {
        let mut whole = String::new();
        loop {
            let mut raw = Vec::new();
            let n = self
                .reader
                .read_until(b'\n', &mut raw)
                .await
                .map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("the server closed the connection".into());
            }
            let text = String::from_utf8_lossy(&raw);
            let text = text.trim_end_matches(['\r', '\n']);
            whole.push_str(text);
            let size = text
                .strip_suffix('}')
                .and_then(|t| t.rfind('{').map(|i| &t[i + 1..]))
                .and_then(|n| n.parse::<usize>().ok());
            let Some(size) = size else {
                return Ok(whole);
            };
            let mut literal = vec![0; size];
            self.reader
                .read_exact(&mut literal)
                .await
                .map_err(|e| e.to_string())?;
            whole.push_str(&String::from_utf8_lossy(&literal));
        }
    }
}

/// What the proxy does to the connections open when the order is given.
#[derive(Debug, Clone, Copy)]
enum Order {
    Pass,
    Cut,
    CutAfter(u64),
}

/// A TCP proxy on 127.0.0.1 in front of a server. Its orders apply to the
/// connections open when they are given; later connections pass freely.
pub struct CutProxy {
    /// The proxy's port.
    pub port: u16,
    orders: watch::Sender<Order>,
    accept: tokio::task::JoinHandle<()>,
}

impl CutProxy {
    fn start(upstream: u16) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        let (orders, template) = watch::channel(Order::Pass);
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mut orders = template.clone();
                orders.borrow_and_update();
                tokio::spawn(pipe(client, upstream, orders));
            }
        });
        Self {
            port,
            orders,
            accept,
        }
    }

    /// Drops every open connection at once.
    pub fn cut(&self) {
        self.orders.send_replace(Order::Cut);
    }

    /// Drops each open connection once the server has sent it `n` more
    /// bytes (the first `n` are passed on).
    pub fn cut_after_bytes(&self, n: u64) {
        self.orders.send_replace(Order::CutAfter(n));
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.accept.abort();
        // Open connections end when the order channel closes.
    }
}

/// Carries one connection until it ends or an order cuts it.
async fn pipe(mut client: TcpStream, upstream: u16, mut orders: watch::Receiver<Order>) {
    let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
        return;
    };
    let (mut client_in, mut client_out) = client.split();
    let (mut server_in, mut server_out) = server.split();
    let mut up = vec![0u8; 16 * 1024];
    let mut down = vec![0u8; 16 * 1024];
    let mut budget: Option<u64> = None;
    loop {
        tokio::select! {
            read = client_in.read(&mut up) => {
                let n = match read { Ok(0) | Err(_) => return, Ok(n) => n };
                if server_out.write_all(&up[..n]).await.is_err() {
                    return;
                }
            }
            read = server_in.read(&mut down) => {
                let n = match read { Ok(0) | Err(_) => return, Ok(n) => n };
                let pass = budget.map_or(n, |b| n.min(usize::try_from(b).unwrap_or(usize::MAX)));
                if client_out.write_all(&down[..pass]).await.is_err() {
                    return;
                }
                if let Some(b) = budget.as_mut() {
                    *b -= pass as u64;
                    if *b == 0 {
                        return;
                    }
                }
            }
            changed = orders.changed() => {
                if changed.is_err() {
                    return;
                }
                match *orders.borrow_and_update() {
                    Order::Pass => budget = None,
                    Order::Cut | Order::CutAfter(0) => return,
                    Order::CutAfter(n) => budget = Some(n),
                }
            }
        }
    }
}

/// A complaint mail with CRLF line ends, 8-bit UTF-8 text, and `lines`
/// lines of filler to make it as large as a test needs.
fn mail(name: &str, lines: usize) -> Vec<u8> {
    let mut m = format!(
        "From: Warga {name} <{name}@warga.example.id>\r\n\
         To: pengaduan@pemkot.example.go.id\r\n\
         Subject: Jalan rusak ({name})\r\n\
         Message-ID: <{name}@warga.example.id>\r\n\
         Date: Mon, 03 Mar 2025 08:00:00 +0700\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         Jalan berlubang di depan SDN 3 — mohon segera diperbaiki, sudah dua minggu.\r\n"
    );
    for i in 0..lines {
        let _ = write!(
            m,
            "Baris {i:05}: lubangnya makin lebar setiap hujan turun.\r\n"
        );
    }
    m.into_bytes()
}

async fn connect(cfg: &ImapConfig) -> ImapSession {
    ImapSession::connect(cfg)
        .await
        .unwrap_or_else(|e| panic!("connect to {}:{}: {e}", cfg.host, cfg.port))
}

fn uids(fetched: &[salur_channel_email::imap::Fetched]) -> Vec<u32> {
    fetched.iter().map(|f| f.uid).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_returns_new_mail_oldest_first_byte_for_byte() {
    let Some(dovecot) = Dovecot::start().await else {
        return;
    };
    let mails = [mail("satu", 1), mail("dua", 3), mail("tiga", 400)];
    let mut appended = Vec::new();
    for m in &mails {
        appended.push(dovecot.append("INBOX", m).await);
    }
    assert!(appended.windows(2).all(|w| w[0] < w[1]), "{appended:?}");

    let mut imap = connect(&dovecot.config()).await;
    let state = imap.select("INBOX").await.expect("SELECT INBOX");
    assert_eq!(state.exists, 3);
    assert!(state.uid_next.is_some_and(|n| n > appended[2]), "{state:?}");

    let all = imap.fetch_after(0, 100).await.expect("fetch all");
    assert_eq!(uids(&all), appended);
    for (got, sent) in all.iter().zip(&mails) {
        assert_eq!(&got.raw[..], &sent[..], "UID {} byte for byte", got.uid);
    }
    // `n:*` names the last message even when n is above every UID.
    assert!(imap.fetch_after(appended[2], 100).await.unwrap().is_empty());
    assert!(
        imap.fetch_after(appended[2] + 50, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(imap.fetch_after(u32::MAX, 100).await.unwrap().is_empty());

    // `max` keeps the oldest.
    assert_eq!(uids(&imap.fetch_after(0, 2).await.unwrap()), appended[..2]);
    assert_eq!(
        uids(&imap.fetch_after(appended[0], 1).await.unwrap()),
        appended[1..2]
    );
    assert!(imap.fetch_after(0, 0).await.unwrap().is_empty());
    imap.logout().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetching_leaves_mail_unseen() {
    let Some(dovecot) = Dovecot::start().await else {
        return;
    };
    let first = dovecot.append("INBOX", &mail("belum-dibaca", 2)).await;
    let second = dovecot.append("INBOX", &mail("sudah-dibaca", 2)).await;
    // The check below can see `\Seen` where it is.
    dovecot.add_flags("INBOX", second, "\\Seen").await;
    assert!(
        dovecot
            .flags("INBOX", second)
            .await
            .contains(&"\\Seen".into())
    );

    let mut imap = connect(&dovecot.config()).await;
    imap.select("INBOX").await.unwrap();
    assert_eq!(
        uids(&imap.fetch_after(0, 10).await.unwrap()),
        [first, second]
    );
    imap.logout().await;

    let flags = dovecot.flags("INBOX", first).await;
    assert!(
        !flags.contains(&"\\Seen".into()),
        "fetching set \\Seen: {flags:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_wakes_on_new_mail_and_times_out_when_quiet() {
    let Some(dovecot) = Dovecot::start().await else {
        return;
    };
    let mut imap = connect(&dovecot.config()).await;
    imap.select("INBOX").await.unwrap();
    assert!(imap.can_idle(), "Dovecot offers IDLE");

    let quiet = Instant::now();
    assert_eq!(
        imap.wait(Duration::from_millis(1500)).await.unwrap(),
        Wake::Timeout
    );
    assert!(
        quiet.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        quiet.elapsed()
    );

    // Mail from another connection while idling.
    let idling = Instant::now();
    let (woken, uid) = tokio::join!(imap.wait(Duration::from_secs(60)), async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        dovecot.append("INBOX", &mail("saat-idle", 1)).await
    });
    assert_eq!(woken.unwrap(), Wake::NewMail);
    assert!(
        idling.elapsed() < Duration::from_secs(5),
        "{:?}",
        idling.elapsed()
    );
    assert_eq!(uids(&imap.fetch_after(0, 10).await.unwrap()), [uid]);

    // Nothing new since that fetch: the session is usable and quiet again.
    assert_eq!(
        imap.wait(Duration::from_millis(300)).await.unwrap(),
        Wake::Timeout
    );

    // Mail that came while nobody was idling is reported at once.
    let later = dovecot.append("INBOX", &mail("sebelum-idle", 1)).await;
    let waiting = Instant::now();
    assert_eq!(
        imap.wait(Duration::from_secs(60)).await.unwrap(),
        Wake::NewMail
    );
    assert!(
        waiting.elapsed() < Duration::from_secs(5),
        "{:?}",
        waiting.elapsed()
    );
    assert_eq!(uids(&imap.fetch_after(uid, 10).await.unwrap()), [later]);
    imap.logout().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_idle_or_move_the_client_polls_and_copies() {
    // Neither IDLE, MOVE nor UIDPLUS: poll with NOOP; move with COPY,
    // STORE \Deleted and EXPUNGE.
    polls_and_copies("imap_capability = IMAP4rev1 LITERAL+").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_idle_or_move_but_with_uidplus_the_client_expunges_by_uid() {
    polls_and_copies("imap_capability = IMAP4rev1 LITERAL+ UIDPLUS").await;
}

async fn polls_and_copies(capabilities: &str) {
    let Some(dovecot) = Dovecot::start_with(capabilities).await else {
        return;
    };
    let mut imap = connect(&dovecot.config()).await;
    imap.select("INBOX").await.unwrap();
    assert!(!imap.can_idle());
    assert_eq!(
        imap.wait(Duration::from_millis(300)).await.unwrap(),
        Wake::Timeout
    );

    let raw = mail("tanpa-idle", 2);
    dovecot.append("INBOX", &raw).await;
    assert_eq!(
        imap.wait(Duration::from_millis(300)).await.unwrap(),
        Wake::NewMail
    );
    let fetched = imap.fetch_after(0, 10).await.unwrap();
    assert_eq!(fetched.len(), 1);
    assert_eq!(&fetched[0].raw[..], &raw[..]);

    imap.move_to(fetched[0].uid, "Arsip")
        .await
        .expect("move by copying");
    assert!(imap.fetch_after(0, 10).await.unwrap().is_empty());
    assert_eq!(imap.select("INBOX").await.unwrap().exists, 0);
    assert_eq!(imap.select("Arsip").await.unwrap().exists, 1);
    let archived = imap.fetch_after(0, 10).await.unwrap();
    assert_eq!(&archived[0].raw[..], &raw[..]);
    imap.logout().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_mid_fetch_is_retryable_and_a_fresh_session_fetches_everything() {
    let Some(dovecot) = Dovecot::start().await else {
        return;
    };
    // About 60 KB each, so the fetch is long enough to cut in the middle.
    let mails = [
        mail("besar-1", 1000),
        mail("besar-2", 1000),
        mail("besar-3", 1000),
    ];
    for m in &mails {
        dovecot.append("INBOX", m).await;
    }
    let proxy = dovecot.proxy();
    let mut cfg = dovecot.config();
    cfg.port = proxy.port;

    let mut imap = connect(&cfg).await;
    imap.select("INBOX").await.unwrap();
    proxy.cut_after_bytes(70_000);
    let e = imap.fetch_after(0, 10).await.expect_err("the fetch is cut");
    assert!(e.retryable(), "{e:?}");
    assert!(matches!(e, ImapError::Connect(_)), "{e:?}");
    // The broken session stays broken.
    let again = imap.fetch_after(0, 10).await.expect_err("closed session");
    assert!(again.retryable(), "{again:?}");

    let mut fresh = connect(&cfg).await;
    fresh.select("INBOX").await.unwrap();
    let all = fresh.fetch_after(0, 10).await.expect("fetch after the cut");
    assert_eq!(all.len(), 3);
    for (got, sent) in all.iter().zip(&mails) {
        assert_eq!(&got.raw[..], &sent[..]);
    }

    // A cut during IDLE ends the wait with a retryable error.
    let waiting = Instant::now();
    let (woken, ()) = tokio::join!(fresh.wait(Duration::from_secs(60)), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        proxy.cut();
    });
    let e = woken.expect_err("IDLE is cut");
    assert!(e.retryable(), "{e:?}");
    assert!(
        waiting.elapsed() < Duration::from_secs(10),
        "{:?}",
        waiting.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_keeps_its_mail_and_port() {
    let Some(mut dovecot) = Dovecot::start().await else {
        return;
    };
    let raw = mail("sebelum-restart", 2);
    dovecot.append("INBOX", &raw).await;
    let mut imap = connect(&dovecot.config()).await;
    imap.select("INBOX").await.unwrap();

    dovecot.stop().await;
    let e = imap.fetch_after(0, 10).await.expect_err("server stopped");
    assert!(e.retryable(), "{e:?}");
    let e = ImapSession::connect(&dovecot.config())
        .await
        .expect_err("nothing listens");
    assert!(matches!(e, ImapError::Connect(_)), "{e:?}");

    dovecot.restart().await;
    let mut imap = connect(&dovecot.config()).await;
    imap.select("INBOX").await.unwrap();
    let all = imap.fetch_after(0, 10).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(&all[0].raw[..], &raw[..]);
    imap.logout().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_mailbox_has_a_new_uidvalidity_and_the_same_mail() {
    let Some(dovecot) = Dovecot::start().await else {
        return;
    };
    let mails = [mail("lama-1", 2), mail("lama-2", 2)];
    for m in &mails {
        dovecot.append("INBOX", m).await;
    }
    let mut imap = connect(&dovecot.config()).await;
    let before = imap.select("INBOX").await.unwrap();
    imap.logout().await;

    dovecot.reset_uidvalidity("INBOX").await;

    let mut imap = connect(&dovecot.config()).await;
    let after = imap.select("INBOX").await.unwrap();
    assert_ne!(before.uid_validity, after.uid_validity);
    assert_eq!(after.exists, 2);
    let all = imap.fetch_after(0, 10).await.unwrap();
    let mut got: Vec<&[u8]> = all.iter().map(|f| &f.raw[..]).collect();
    got.sort();
    let mut sent: Vec<&[u8]> = mails.iter().map(Vec::as_slice).collect();
    sent.sort();
    assert_eq!(got, sent);
    imap.logout().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_to_creates_the_folder_and_moves_the_message() {
    let Some(dovecot) = Dovecot::start().await else {
        return;
    };
    let mails = [mail("pindah-1", 1), mail("pindah-2", 1), mail("tetap", 1)];
    let mut appended = Vec::new();
    for m in &mails {
        appended.push(dovecot.append("INBOX", m).await);
    }
    let mut imap = connect(&dovecot.config()).await;
    imap.select("INBOX").await.unwrap();
    // The folder does not exist yet, then it does.
    imap.move_to(appended[0], "Diproses")
        .await
        .expect("first move");
    imap.move_to(appended[1], "Diproses")
        .await
        .expect("second move");
    assert_eq!(uids(&imap.fetch_after(0, 10).await.unwrap()), [appended[2]]);

    let moved = imap.select("Diproses").await.unwrap();
    assert_eq!(moved.exists, 2);
    let all = imap.fetch_after(0, 10).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(&all[0].raw[..], &mails[0][..]);
    assert_eq!(&all[1].raw[..], &mails[1][..]);
    assert_eq!(imap.select("INBOX").await.unwrap().exists, 1);

    // A folder created by someone else is used as it is.
    dovecot.create("Selesai").await;
    imap.move_to(appended[2], "Selesai")
        .await
        .expect("into an existing folder");
    assert_eq!(imap.select("Selesai").await.unwrap().exists, 1);

    let e = imap.select("TidakAda").await.expect_err("no such mailbox");
    assert!(matches!(e, ImapError::Refused(_)), "{e:?}");
    imap.logout().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_text_off_loopback_is_refused() {
    for host in ["imap.example.org", "10.20.30.40", "2001:db8::1"] {
        let cfg = ImapConfig {
            host: host.into(),
            port: 143,
            security: Security::Plain,
            username: "pengaduan".into(),
            password: "rahasia".into(),
            timeout: Duration::from_secs(2),
            ca_certificates: Vec::new(),
        };
        let e = ImapSession::connect(&cfg).await.expect_err("refused");
        assert!(matches!(e, ImapError::Refused(_)), "{host}: {e:?}");
        assert!(!e.retryable());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_an_auth_error() {
    let Some(dovecot) = Dovecot::start().await else {
        return;
    };
    let mut cfg = dovecot.config();
    cfg.password = "bukan-sandinya".into();
    let e = ImapSession::connect(&cfg).await.expect_err("rejected");
    assert!(matches!(e, ImapError::Auth(_)), "{e:?}");
    assert!(!e.retryable());
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains("bukan-sandinya"), "{shown}");
}
