//! The email channel through the real app: mail pushed by a pipe and
//! mailboxes polled from a real Dovecot, acknowledgements received by a
//! real SMTP server, the loop guard, bounces, replies, forwards, and
//! `salur import` of an mbox.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use salur::store::{Op, OutboundRow, Result as StoreResult, Tx};
use serde_json::Value;

use crate::dovecot::Dovecot;
use crate::smtp_sink::SmtpSink;
use crate::support::{TestApp, TestDb, config_toml, eventually, test_env};

const WAIT: Duration = Duration::from_secs(20);
const PUSH_SECRET: &str = "mail-pipe-secret";
const OURS: &str = "aduan@example-kab.go.id";
const FAST: &str = "seal_interval = \"100ms\"\nmedia_max_bytes = 1048576";

fn channel(sink: Option<&SmtpSink>, imap: Option<(u16, &Dovecot)>, extra: &str) -> String {
    let mut toml = format!(
        "[[channels]]\nname = \"mail-aduan\"\nkind = \"email\"\npush_secret = \"env:T_MAIL_PUSH\"\n\
         replies = {}\n{extra}\n",
        sink.is_some()
    );
    if let Some((port, dovecot)) = imap {
        toml.push_str(&format!(
            "[channels.imap]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"plain\"\n\
             username = \"{}\"\npassword = \"env:T_IMAP_PASS\"\npoll_interval = \"2s\"\n",
            dovecot.user
        ));
    }
    if let Some(sink) = sink {
        toml.push_str(&format!(
            "[channels.smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"plain\"\n\
             from = \"Layanan Pengaduan <{OURS}>\"\n",
            sink.port
        ));
    }
    toml
}

async fn start(db: &TestDb, channel: &str, imap_password: &str) -> TestApp {
    let env = test_env(&[("T_MAIL_PUSH", PUSH_SECRET), ("T_IMAP_PASS", imap_password)]);
    let toml = config_toml(&db.url, FAST, channel).replacen(
        "[server]\n",
        "[server]\nmail_body_limit = 2000000\n",
        1,
    );
    TestApp::start(&toml, &env).await
}

/// A citizen's mail.
fn citizen_mail(id: &str, from: &str, subject: &str, body: &str) -> String {
    format!(
        "From: Warga <{from}>\r\nTo: {OURS}\r\nSubject: {subject}\r\n\
         Date: Mon, 3 Nov 2025 09:15:00 +0700\r\nMessage-ID: <{id}>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    )
}

async fn push(app: &TestApp, raw: &str, secret: Option<&str>) -> reqwest::Response {
    let mut r = app
        .http
        .post(format!("{}/webhooks/email/mail-aduan", app.base))
        .header("content-type", "message/rfc822")
        .body(raw.to_owned());
    if let Some(s) = secret {
        r = r.bearer_auth(s);
    }
    r.send().await.unwrap()
}

async fn complaints(app: &TestApp) -> Vec<Value> {
    let list: Value = app
        .api_get("/api/v1/complaints?limit=100")
        .await
        .json()
        .await
        .unwrap();
    list["items"].as_array().cloned().unwrap_or_default()
}

async fn wait_complaints(app: &TestApp, n: usize) -> Vec<Value> {
    eventually(WAIT, || async {
        let items = complaints(app).await;
        (items.len() >= n).then_some(items)
    })
    .await
    .unwrap_or_else(|| panic!("{n} complaint(s) expected"))
}

/// Waits until every stored message is processed.
async fn settled(app: &TestApp) {
    eventually(WAIT, || async {
        let pending = app.read(Pending).await;
        (pending == 0).then_some(())
    })
    .await
    .expect("every stored message processed");
}

struct Pending;

impl Op for Pending {
    type Output = i64;
    async fn run<C: Tx>(&mut self, c: &mut C) -> StoreResult<i64> {
        Ok(c.pending_inbound(1000).await?.len() as i64)
    }
}

struct Outbound(String);

impl Op for Outbound {
    type Output = Vec<OutboundRow>;
    async fn run<C: Tx>(&mut self, c: &mut C) -> StoreResult<Vec<OutboundRow>> {
        c.outbound_for_complaint(&self.0).await
    }
}

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/channels/email/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    String::from_utf8_lossy(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
        .into_owned()
}

/// Pushed mail: the token is checked, a Message-ID is stored once, the
/// citizen gets a threaded acknowledgement with the tracking code, a reply
/// to it joins the complaint, and no answer goes to automatic mail; a
/// bounce of the acknowledgement is recorded on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_mail_is_acknowledged_threaded_and_guarded() {
    let Some(sink) = SmtpSink::start().await else {
        return;
    };
    let db = TestDb::new(crate::support::Backend::Sqlite).await.unwrap();
    let app = start(&db, &channel(Some(&sink), None, ""), "").await;

    let mail = citizen_mail(
        "CAF1x-warga-001@mail.gmail.com",
        "budi.santoso@gmail.com",
        "Jalan berlubang di Jl. Merdeka",
        "Selamat pagi,\r\n\r\nJalan di depan SDN 3 Sukamaju berlubang besar sejak seminggu.",
    );
    assert_eq!(push(&app, &mail, None).await.status(), 401);
    assert_eq!(push(&app, &mail, Some("salah")).await.status(), 401);
    assert_eq!(push(&app, "", Some(PUSH_SECRET)).await.status(), 400);
    let oversized = citizen_mail(
        "besar@warga.example.net",
        "a@b.example",
        "Besar",
        &"x".repeat(2_100_000),
    );
    assert_eq!(
        push(&app, &oversized, Some(PUSH_SECRET)).await.status(),
        413
    );
    assert_eq!(app.counts().await.messages, 0);
    assert_eq!(push(&app, &mail, Some(PUSH_SECRET)).await.status(), 200);
    let replay = push(&app, &mail, Some(PUSH_SECRET)).await;
    assert_eq!(replay.status(), 200);
    let replay: Value = replay.json().await.unwrap();
    assert_eq!(replay["replay"], true);

    let complaint = wait_complaints(&app, 1).await.remove(0);
    assert_eq!(complaint["channel"], "email");
    assert_eq!(complaint["title"], "Jalan berlubang di Jl. Merdeka");
    assert_eq!(complaint["reporter"]["email"], "budi.santoso@gmail.com");
    assert!(
        complaint["body"]
            .as_str()
            .unwrap()
            .contains("SDN 3 Sukamaju")
    );
    let code = complaint["tracking_code"].as_str().unwrap().to_owned();

    // The acknowledgement: to the citizen, threaded, marked automatic.
    let ack = sink.wait(1, WAIT).await.remove(0);
    assert_eq!(ack.rcpt_to, vec!["budi.santoso@gmail.com".to_owned()]);
    let subject = ack.header("Subject").unwrap();
    assert!(subject.contains(&format!("[{code}]")), "{subject}");
    assert_eq!(
        ack.header("Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    assert_eq!(
        ack.header("In-Reply-To").as_deref(),
        Some("<CAF1x-warga-001@mail.gmail.com>")
    );
    assert!(ack.text().contains(&code), "{}", ack.text());
    let ack_id = ack.header("Message-ID").unwrap();
    assert!(ack_id.ends_with("@example-kab.go.id>"), "{ack_id}");

    // The citizen answers the acknowledgement: the answer joins the
    // complaint, without the quoted text, and is not acknowledged again.
    let answer = format!(
        "From: Warga <budi.santoso@gmail.com>\r\nTo: {OURS}\r\nSubject: Re: {subject}\r\n\
         Date: Mon, 3 Nov 2025 11:00:00 +0700\r\nMessage-ID: <CAF1x-warga-002@mail.gmail.com>\r\n\
         In-Reply-To: {ack_id}\r\nReferences: <CAF1x-warga-001@mail.gmail.com> {ack_id}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n\
         Lubangnya sekarang makin lebar, sudah dua motor jatuh.\r\n\r\n\
         Pada Sen, 3 Nov 2025 pukul 09.16 Layanan Pengaduan <{OURS}> menulis:\r\n\
         > Aduan Anda sudah kami terima dengan kode {code}.\r\n"
    );
    assert_eq!(push(&app, &answer, Some(PUSH_SECRET)).await.status(), 200);
    let joined = eventually(WAIT, || async {
        let items = complaints(&app).await;
        let c = items.first()?.clone();
        c["body"]
            .as_str()?
            .contains("dua motor jatuh")
            .then_some((items.len(), c))
    })
    .await
    .expect("the answer joins its complaint");
    assert_eq!(joined.0, 1, "no second complaint");
    let body = joined.1["body"].as_str().unwrap();
    assert!(
        !body.contains("sudah kami terima"),
        "quoted text kept: {body}"
    );
    assert_eq!(joined.1["title"], "Jalan berlubang di Jl. Merdeka");

    // An out-of-office answer and a list mail: kept, no complaint, no answer.
    let ooo = format!(
        "From: Kepala Dinas <kadis@dinaspu.example-kab.go.id>\r\nTo: {OURS}\r\n\
         Subject: Balasan otomatis: Sedang cuti\r\nAuto-Submitted: auto-replied\r\n\
         Message-ID: <ooo-1@dinaspu.example-kab.go.id>\r\nDate: Mon, 3 Nov 2025 12:00:00 +0700\r\n\r\n\
         Saya sedang cuti sampai 10 November.\r\n"
    );
    assert_eq!(push(&app, &ooo, Some(PUSH_SECRET)).await.status(), 200);
    assert_eq!(
        push(&app, &fixture("list_mail.eml"), Some(PUSH_SECRET))
            .await
            .status(),
        200
    );

    // Our acknowledgement bounced for another citizen: recorded on it.
    let other = citizen_mail(
        "ymail-77@yahoo.co.id",
        "tidak.ada@yahoo.co.id",
        "Lampu jalan mati",
        "Lampu jalan di Gang Mawar mati sejak Senin.",
    );
    assert_eq!(push(&app, &other, Some(PUSH_SECRET)).await.status(), 200);
    let acks = sink.wait(2, WAIT).await;
    let second = &acks[1];
    let second_id = second.header("Message-ID").unwrap();
    let dsn = format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.example-kab.go.id>\r\nTo: {OURS}\r\n\
         Subject: Undelivered Mail Returned to Sender\r\nAuto-Submitted: auto-replied\r\n\
         Message-ID: <dsn-1@mx.example-kab.go.id>\r\nDate: Mon, 3 Nov 2025 12:30:00 +0700\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\
         --b1\r\nContent-Type: message/delivery-status\r\n\r\n\
         Reporting-MTA: dns; mx.example-kab.go.id\r\n\r\n\
         Final-Recipient: rfc822; tidak.ada@yahoo.co.id\r\nAction: failed\r\nStatus: 5.1.1\r\n\
         Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n\
         --b1\r\nContent-Type: text/rfc822-headers\r\n\r\n\
         From: Layanan Pengaduan <{OURS}>\r\nTo: tidak.ada@yahoo.co.id\r\nMessage-ID: {second_id}\r\n\
         Subject: {}\r\n\r\n--b1--\r\n",
        second.header("Subject").unwrap()
    );
    assert_eq!(push(&app, &dsn, Some(PUSH_SECRET)).await.status(), 200);
    settled(&app).await;
    let items = complaints(&app).await;
    assert_eq!(
        items.len(),
        2,
        "auto-replies, lists and bounces open nothing"
    );
    let other_id = items
        .iter()
        .find(|c| c["reporter"]["email"] == "tidak.ada@yahoo.co.id")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let replies = app.read(Outbound(other_id)).await;
    let bounced = replies
        .iter()
        .find(|r| r.kind == "acknowledgement")
        .unwrap();
    assert_eq!(bounced.state, "bounced");
    assert!(
        bounced
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("5.1.1"),
        "{:?}",
        bounced.last_error
    );
    // Nothing went to the out-of-office sender, the list, or the daemon.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.messages().len(), 2, "{:?}", sink.messages());

    // An agency forwards a citizen's mail: the citizen is the reporter.
    assert_eq!(
        push(&app, &fixture("fwd_gmail_id.eml"), Some(PUSH_SECRET))
            .await
            .status(),
        200
    );
    // Attachments are cut out of the stored mail: kept by their sha256
    // within the size limit, the one over it recorded as missing.
    for name in ["filename_rfc2231.eml", "huge_attachment.eml"] {
        assert_eq!(
            push(&app, &fixture(name), Some(PUSH_SECRET)).await.status(),
            200,
            "{name}"
        );
    }
    let states = eventually(WAIT, || async {
        let mut states: Vec<String> = complaints(&app)
            .await
            .iter()
            .flat_map(|c| c["attachments"].as_array().cloned().unwrap_or_default())
            .map(|a| a["state"].as_str().unwrap_or_default().to_owned())
            .collect();
        states.sort();
        states.dedup();
        (states == ["missing", "stored"]).then_some(states)
    })
    .await;
    assert!(states.is_some(), "{:?}", complaints(&app).await);

    let items = wait_complaints(&app, 5).await;
    let forwarded = items
        .iter()
        .find(|c| !c["forwarded_by"].is_null())
        .expect("a forwarded complaint");
    assert_ne!(
        forwarded["reporter"]["email"], forwarded["forwarded_by"]["email"],
        "{forwarded}"
    );
    app.stop().await;
}

/// A real Dovecot: mail already there, mail arriving during IDLE, a
/// connection cut in the middle of a fetch, mail that came while salur was
/// stopped, and a UIDVALIDITY reset — each mail stored once; stored mail
/// is moved only afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dovecot_mailbox_is_polled_without_loss_or_duplicates() {
    let Some(mut dovecot) = Dovecot::start().await else {
        return;
    };
    let db = TestDb::new(crate::support::Backend::Sqlite).await.unwrap();
    let proxy = dovecot.proxy();
    let mail = |i: usize, body: &str| {
        citizen_mail(
            &format!("imap-{i}@warga.example.net"),
            &format!("warga{i}@warga.example.net"),
            &format!("Aduan nomor {i}"),
            body,
        )
    };
    for i in 0..3 {
        dovecot
            .append("INBOX", mail(i, "Sampah menumpuk di pasar.").as_bytes())
            .await;
    }
    // Junk that cannot be read is kept for an admin and holds nothing up;
    // a second folder is watched too, and the same mail in both is one.
    dovecot
        .append("INBOX", fixture("binary_junk.eml").as_bytes())
        .await;
    dovecot.create("Pengaduan").await;
    dovecot
        .append("Pengaduan", mail(0, "Sampah menumpuk di pasar.").as_bytes())
        .await;
    dovecot
        .append(
            "Pengaduan",
            mail(100, "Pohon tumbang di taman kota.").as_bytes(),
        )
        .await;
    let config = channel(None, Some((proxy.port, &dovecot)), "").replace(
        "poll_interval = \"2s\"\n",
        "poll_interval = \"2s\"\nmailboxes = [\"INBOX\", \"Pengaduan\"]\n",
    );
    let app = start(&db, &config, &dovecot.password.clone()).await;
    wait_complaints(&app, 4).await;
    settled(&app).await;
    assert_eq!(app.read(OpenQuarantine).await, 1, "the junk is quarantined");

    // Mail arriving while salur waits in IDLE comes within seconds.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = Instant::now();
    dovecot
        .append("INBOX", mail(3, "Banjir di gang mawar.").as_bytes())
        .await;
    wait_complaints(&app, 5).await;
    let idle_latency = sent.elapsed();
    assert!(idle_latency < Duration::from_secs(10), "{idle_latency:?}");
    eprintln!("IDLE delivery: {idle_latency:?}");

    // The connection is cut in the middle of fetching a large mail.
    let large = mail(
        4,
        &"Lampu jalan mati di sepanjang Jalan Merdeka. ".repeat(2000),
    );
    proxy.cut_after_bytes(4096);
    dovecot.append("INBOX", large.as_bytes()).await;
    wait_complaints(&app, 6).await;
    let metrics = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.lines().any(
            |l| l.starts_with("salur_failures_total{stage=\"mailbox\"} ") && !l.ends_with(" 0")
        ),
        "the cut was noticed and the mailbox reconnected:\n{metrics}"
    );

    // Mail that came while salur was stopped is fetched on start.
    app.stop().await;
    for i in 5..7 {
        dovecot
            .append("INBOX", mail(i, "Air PDAM keruh.").as_bytes())
            .await;
    }
    let app = start(&db, &config, &dovecot.password.clone()).await;
    wait_complaints(&app, 8).await;

    // A new UIDVALIDITY: the mailbox is read again, nothing is stored twice.
    app.stop().await;
    dovecot.reset_uidvalidity("INBOX").await;
    let app = start(&db, &config, &dovecot.password.clone()).await;
    dovecot
        .append("INBOX", mail(7, "Jembatan retak.").as_bytes())
        .await;
    wait_complaints(&app, 9).await;
    settled(&app).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let counts = app.counts().await;
    assert_eq!((counts.messages, counts.complaints), (10, 9));
    app.stop().await;

    // With `move_to`, stored mail leaves the mailbox, and only then.
    let moved_db = TestDb::new(crate::support::Backend::Sqlite).await.unwrap();
    let config = channel(None, Some((dovecot.port, &dovecot)), "").replace(
        "poll_interval = \"2s\"\n",
        "poll_interval = \"2s\"\nmove_to = \"Tersimpan\"\n",
    );
    let app = start(&moved_db, &config, &dovecot.password.clone()).await;
    wait_complaints(&app, 8).await;
    settled(&app).await;
    let left = eventually(WAIT, || async {
        let mut session = salur_channel_email::imap::ImapSession::connect(&dovecot.config())
            .await
            .ok()?;
        let inbox = session.select("INBOX").await.ok()?.exists;
        let kept = session.select("Tersimpan").await.ok()?.exists;
        session.logout().await;
        (inbox == 0).then_some(kept)
    })
    .await
    .expect("stored mail moved out of INBOX");
    assert_eq!(left, 9, "the eight complaints and the quarantined junk");
    app.stop().await;
    dovecot.stop().await;
}

/// `salur import` of an mbox made of the test corpus: a dry run writes
/// nothing, the first run stores it all, the second creates nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn importing_an_mbox_twice_creates_nothing_the_second_time() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("salur.db");
    let config = dir.path().join("salur.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"sqlite://{}\"\n\n[intake]\nmedia_dir = \"{}\"\n\n\
             [[channels]]\nname = \"mail-arsip\"\nkind = \"email\"\npush_secret = \"env:T_MAIL_PUSH\"\n\
             replies = false\n",
            db_path.display(),
            dir.path().join("media").display()
        ),
    )
    .unwrap();
    let fixtures = format!(
        "{}/channels/email/tests/fixtures",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut names: Vec<_> = std::fs::read_dir(&fixtures)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    names.sort();
    let mut mbox = Vec::new();
    for path in &names {
        mbox.extend_from_slice(b"From arsip@example-kab.go.id Mon Nov  3 10:00:00 2025\n");
        for line in std::fs::read(path)
            .unwrap()
            .split_inclusive(|&b| b == b'\n')
        {
            let quoted = line
                .iter()
                .position(|&b| b != b'>')
                .is_some_and(|i| line[i..].starts_with(b"From "));
            if quoted {
                mbox.push(b'>');
            }
            mbox.extend_from_slice(line);
        }
        if !mbox.ends_with(b"\n") {
            mbox.push(b'\n');
        }
        mbox.push(b'\n');
    }
    let archive = dir.path().join("arsip.mbox");
    std::fs::write(&archive, &mbox).unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "--config",
            config.to_str().unwrap(),
            "import",
            archive.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        crate::cli::salur(&args, &[("T_MAIL_PUSH", PUSH_SECRET)])
    };
    let number = |out: &str, what: &str| -> u64 {
        let at = out
            .find(what)
            .unwrap_or_else(|| panic!("`{what}` in {out}"));
        out[..at]
            .split(|c: char| !c.is_ascii_digit())
            .rfind(|s| !s.is_empty())
            .unwrap()
            .parse()
            .unwrap()
    };

    let (code, dry, err) = run(&["--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(dry.contains("dry run"), "{dry}");
    assert_eq!(number(&dry, "mail read"), names.len() as u64, "{dry}");
    let would = number(&dry, "created");
    assert!(would >= 10, "{dry}");

    let (code, first, err) = run(&[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(number(&first, "created"), would, "{first}");
    let repeated = number(&first, "duplicates");
    assert!(number(&first, "quarantined") >= 1, "{first}");

    eprintln!("dry run: {}", dry.lines().last().unwrap_or_default());
    eprintln!("first run: {first}");
    let (code, second, err) = run(&[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(number(&second, "created"), 0, "{second}");
    assert_eq!(
        number(&second, "duplicates"),
        names.len() as u64,
        "{second}"
    );
    eprintln!("second run: {second}");

    let stored = crate::support::read_at(
        &format!("sqlite://{}", db_path.display()),
        crate::support::CountAll,
    )
    .await;
    assert_eq!(stored.messages, (names.len() as u64 - repeated) as i64);
    assert!(stored.complaints >= would as i64);
}

struct OpenQuarantine;

impl Op for OpenQuarantine {
    type Output = i64;
    async fn run<C: Tx>(&mut self, c: &mut C) -> StoreResult<i64> {
        c.count_quarantine().await
    }
}

/// A mail an earlier reader could not read stays quarantined with its raw
/// bytes; `salur reprocess --quarantined` reads it again with the current
/// reader and takes it into intake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarantined_mail_is_taken_again_once_it_reads() {
    let db = TestDb::new(crate::support::Backend::Sqlite).await.unwrap();
    let app = start(&db, &channel(None, None, ""), "").await;
    let raw = citizen_mail(
        "dulu-gagal@warga.example.net",
        "siti@warga.example.net",
        "Saluran air tersumbat",
        "Saluran air di RT 05 tersumbat sampah.",
    );
    let reader = salur_channel_email::read::MailReader::new("mail-aduan".into(), vec![], vec![]);
    let mut message = reader.read(raw.as_bytes(), chrono::Utc::now());
    message.flag = Some("unreadable by the reader of the day".into());
    app.app.ingest(message).await.unwrap();
    settled(&app).await;
    assert_eq!(app.read(OpenQuarantine).await, 1);
    assert!(complaints(&app).await.is_empty());

    let dry = salur::reprocess::quarantined(&app.app, true).await.unwrap();
    assert_eq!((dry.checked, dry.changed), (1, 1));
    assert_eq!(
        app.read(OpenQuarantine).await,
        1,
        "a dry run writes nothing"
    );

    let done = salur::reprocess::quarantined(&app.app, false)
        .await
        .unwrap();
    assert_eq!((done.checked, done.changed), (1, 1));
    let complaint = wait_complaints(&app, 1).await.remove(0);
    assert_eq!(complaint["title"], "Saluran air tersumbat");
    assert_eq!(app.read(OpenQuarantine).await, 0);
    assert_eq!(app.counts().await.messages, 1, "the same stored message");
    app.stop().await;
}

/// One sender gets at most `intake.reply_limit` acknowledgements within
/// `intake.reply_window`; the rest are kept as suppressed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_gets_a_limited_number_of_acknowledgements() {
    let Some(sink) = SmtpSink::start().await else {
        return;
    };
    let db = TestDb::new(crate::support::Backend::Sqlite).await.unwrap();
    let app = start(&db, &channel(Some(&sink), None, ""), "").await;
    let topics = ["Jalan rusak", "Lampu mati", "Sampah", "Banjir", "Air keruh"];
    for (i, topic) in topics.iter().enumerate() {
        let mail = citizen_mail(
            &format!("banyak-{i}@warga.example.net"),
            "rajin@warga.example.net",
            topic,
            &format!("{topic} di RW {i}, mohon ditindaklanjuti."),
        );
        assert_eq!(push(&app, &mail, Some(PUSH_SECRET)).await.status(), 200);
    }
    let items = wait_complaints(&app, topics.len()).await;
    sink.wait(3, WAIT).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        sink.messages().len(),
        3,
        "intake.reply_limit is 3 by default"
    );
    let mut suppressed = 0;
    for c in &items {
        let rows = app
            .read(Outbound(c["id"].as_str().unwrap().to_owned()))
            .await;
        suppressed += rows.iter().filter(|r| r.state == "suppressed").count();
    }
    assert_eq!(suppressed, 2);
    app.stop().await;
}

/// Makes a CA and a certificate for `localhost` signed by it, with the
/// openssl command; returns the CA's PEM and the paths of the server's
/// certificate and key.
fn private_ca(dir: &std::path::Path) -> (Vec<u8>, std::path::PathBuf, std::path::PathBuf) {
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName = DNS:localhost\nbasicConstraints = CA:FALSE\n\
         keyUsage = digitalSignature, keyEncipherment\nextendedKeyUsage = serverAuth\n",
    )
    .unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend_from_slice(&ec);
    ca.extend_from_slice(&[
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Diskominfo Uji CA",
    ]);
    openssl(&ca);
    let mut csr = vec!["req"];
    csr.extend_from_slice(&ec);
    csr.extend_from_slice(&[
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    openssl(&csr);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
    (
        std::fs::read(dir.join("ca.pem")).unwrap(),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

/// A mail server whose certificate a private CA signed: STARTTLS and
/// IMAPS work once that CA is given (`ca_file`); STARTTLS is refused
/// without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_trusts_a_private_ca_only_when_given() {
    let certs = tempfile::tempdir().unwrap();
    let (ca_pem, cert, key) = private_ca(certs.path());
    let imaps = crate::support::free_port();
    let extra = format!(
        "ssl = yes\nssl_cert = <{}\nssl_key = <{}\n\
         service imap-login {{\n  inet_listener imaps {{\n    port = {imaps}\n  }}\n}}\n",
        cert.display(),
        key.display()
    );
    let Some(dovecot) = Dovecot::start_with(&extra).await else {
        return;
    };
    dovecot
        .append(
            "INBOX",
            citizen_mail(
                "tls-1@warga.example.net",
                "a@warga.example.net",
                "TLS",
                "Uji TLS.",
            )
            .as_bytes(),
        )
        .await;
    let mut config = dovecot.config();
    config.host = "localhost".into();
    config.security = salur_channel_email::imap::Security::StartTls;

    let refused = match salur_channel_email::imap::ImapSession::connect(&config).await {
        Ok(_) => panic!("an unknown CA must not be trusted"),
        Err(e) => e.to_string(),
    };
    assert!(refused.contains("UnknownIssuer"), "{refused}");

    config.ca_certificates = salur_channel_email::pem_certificates(&ca_pem).unwrap();
    let mut session = salur_channel_email::imap::ImapSession::connect(&config)
        .await
        .expect("STARTTLS with the private CA");
    assert_eq!(session.select("INBOX").await.unwrap().exists, 1);
    session.logout().await;

    // TLS from the first byte (IMAPS) the same way.
    config.port = imaps;
    config.security = salur_channel_email::imap::Security::Tls;
    let mut session = salur_channel_email::imap::ImapSession::connect(&config)
        .await
        .expect("IMAPS with the private CA");
    assert_eq!(session.select("INBOX").await.unwrap().exists, 1);
    session.logout().await;

    assert!(salur_channel_email::pem_certificates(b"not a certificate").is_err());
}

/// SMTP through STARTTLS to a server whose certificate a private CA
/// signed: the acknowledgement goes out with `ca_file`'s certificate, and
/// without it the send fails for now (to be retried), never in clear;
/// SMTPS (TLS from the first byte) works with the CA too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_starttls_trusts_a_private_ca_only_when_given() {
    use salur_channel_email::smtp::{EmailSender, SmtpSecurity, Subjects};
    use salur_channels_core::{ChannelError, OutboundReply, ReplyKind, ReplySender};

    let certs = tempfile::tempdir().unwrap();
    let (ca_pem, cert, key) = private_ca(certs.path());
    let Some(sink) = SmtpSink::start_tls(&cert, &key).await else {
        return;
    };
    let subjects = || Subjects {
        acknowledgement: "Aduan Anda sudah kami terima".into(),
        status_notice: "Perkembangan aduan Anda".into(),
        other: "Layanan pengaduan".into(),
    };
    let reply = OutboundReply {
        channel_name: "mail-aduan".into(),
        to: "email:warga@warga.example.net".into(),
        text: "Aduan Anda sudah kami terima dengan kode SLR-7K3Q-9XPA.".into(),
        in_reply_to: None,
        tracking_code: Some("SLR-7K3Q-9XPA".into()),
        kind: ReplyKind::Acknowledgement,
        last_inbound_at: None,
        window_closed: false,
        presentation: Default::default(),
    };
    let mut config = sink.config(&format!("Layanan Pengaduan <{OURS}>"));
    config.host = "localhost".into();
    config.security = SmtpSecurity::StartTls;

    let without = EmailSender::new(config.clone(), subjects()).unwrap();
    let refused = without.send(&reply).await.expect_err("an unknown CA");
    assert!(matches!(refused, ChannelError::Transient(_)), "{refused}");
    assert!(sink.messages().is_empty());

    config.ca_certificates = salur_channel_email::pem_certificates(&ca_pem).unwrap();
    let with = EmailSender::new(config, subjects()).unwrap();
    with.send(&reply).await.expect("sent over STARTTLS");
    let got = sink.wait(1, WAIT).await.remove(0);
    assert_eq!(got.rcpt_to, vec!["warga@warga.example.net".to_owned()]);
    assert!(got.header("Subject").unwrap().contains("[SLR-7K3Q-9XPA]"));

    // TLS from the first byte (SMTPS) the same way.
    let Some(smtps) = SmtpSink::start_implicit_tls(&cert, &key).await else {
        return;
    };
    let mut config = smtps.config(&format!("Layanan Pengaduan <{OURS}>"));
    config.host = "localhost".into();
    config.security = SmtpSecurity::Tls;
    config.ca_certificates = salur_channel_email::pem_certificates(&ca_pem).unwrap();
    let sender = EmailSender::new(config, subjects()).unwrap();
    sender.send(&reply).await.expect("sent over SMTPS");
    assert_eq!(smtps.wait(1, WAIT).await.len(), 1);
}
