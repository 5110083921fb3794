//! Gammu SMSD: `salur gammu-receive` stores what Gammu hands its
//! `RunOnReceive` program, once however often it runs, and exits non-zero
//! when it cannot store, so Gammu keeps the message. The acknowledgement
//! goes back out through the configured inject command.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use salur::store::{Op, Result as StoreResult, Tx};

use crate::both_backends;
use crate::support::{
    API_TOKEN, Backend, SMS_SECRET, TestApp, TestDb, config_toml, eventually, test_env,
};

/// A stand-in for `gammu-smsd-inject`: appends its arguments to a file.
fn inject_script(dir: &Path) -> (String, std::path::PathBuf) {
    let script = dir.join("inject.sh");
    let log = dir.join("sent.txt");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s|%s\\n' \"$1\" \"$2\" >> '{}'\necho 'Written message with ID 42'\n",
            log.display()
        ),
    )
    .unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(&script)
        .status()
        .unwrap();
    (script.display().to_string(), log)
}

fn gammu_channel(script: &str) -> String {
    format!(
        r#"
[[channels]]
name = "sms-gammu"
kind = "sms"
provider = "gammu"
inject_command = ["{script}", "{{to}}", "{{text}}"]
"#
    )
}

fn receive(config: &Path, ids: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let config = config.to_str().unwrap();
    let mut args = vec!["gammu-receive", "--config", config];
    args.extend_from_slice(ids);
    let mut vars = vec![
        ("T_API_TOKEN", API_TOKEN),
        ("T_SMS_SECRET", SMS_SECRET),
        ("RUST_LOG", "error"),
    ];
    vars.extend_from_slice(env);
    crate::cli::salur(&args, &vars)
}

/// A long SMS in two physical parts, as Gammu describes it.
const GROUP: &[(&str, &str)] = &[
    ("SMS_MESSAGES", "2"),
    ("SMS_1_CLASS", "-1"),
    ("SMS_1_NUMBER", "+6281277778888"),
    (
        "SMS_1_TEXT",
        "Pelayanan di puskesmas kecamatan sangat lambat, antre dari pagi sampai sore belum dipanggil. ",
    ),
    ("SMS_2_CLASS", "-1"),
    ("SMS_2_NUMBER", "+6281277778888"),
    ("SMS_2_TEXT", "Mohon ditindaklanjuti 🙏"),
    ("DECODED_PARTS", "1"),
    (
        "DECODED_1_TEXT",
        "Pelayanan di puskesmas kecamatan sangat lambat, antre dari pagi sampai sore belum dipanggil. Mohon ditindaklanjuti 🙏",
    ),
];

struct Find(&'static str);

impl Op for Find {
    type Output = Option<(String, Option<String>)>;

    async fn run<C: Tx>(&mut self, c: &mut C) -> StoreResult<Self::Output> {
        c.find_inbound("sms-gammu", self.0).await
    }
}

async fn gammu_receive_stores_once_and_acknowledges(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (script, sent) = inject_script(dir.path());
    let toml = config_toml(
        &db.url,
        "seal_interval = \"100ms\"",
        &gammu_channel(&script),
    );
    let config = dir.path().join("salur.toml");
    std::fs::write(&config, &toml).unwrap();

    let ids = [
        "IN20261129_081500_00_+6281277778888_00.txt",
        "IN20261129_081501_00_+6281277778888_01.txt",
    ];
    let (code, out, err) = receive(&config, &ids, GROUP);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("stored: msg_"), "{out}");
    // Gammu runs the program again for the same group: nothing new.
    let (code, out, err) = receive(&config, &ids, GROUP);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("already stored: msg_"), "{out}");

    // The server processes it and sends the acknowledgement through Gammu.
    let app = TestApp::start(&toml, &test_env(&[])).await;
    assert_eq!(app.counts().await.messages, 1);
    let key: &'static str =
        "IN20261129_081500_00_+6281277778888_00.txt,IN20261129_081501_00_+6281277778888_01.txt";
    let cid = eventually(Duration::from_secs(10), || async {
        app.read(Find(key)).await.and_then(|(_, c)| c)
    })
    .await
    .expect("processed");
    let c = app.complaint(&cid).await;
    assert_eq!(
        c["body"],
        "Pelayanan di puskesmas kecamatan sangat lambat, antre dari pagi sampai sore belum dipanggil. Mohon ditindaklanjuti 🙏"
    );
    let code = c["tracking_code"].as_str().unwrap().to_owned();
    let line = eventually(Duration::from_secs(10), || async {
        std::fs::read_to_string(&sent)
            .ok()
            .filter(|s| !s.is_empty())
    })
    .await
    .expect("acknowledgement injected");
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(line.starts_with("+6281277778888|"), "{line}");
    assert!(line.contains(&code), "{line}");

    // An admin moves it on; the citizen is told through the same modem.
    let r = app
        .http
        .patch(format!("{}/api/v1/complaints/{code}", app.base))
        .bearer_auth(API_TOKEN)
        .json(&serde_json::json!({ "status": "in_review" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let updated: serde_json::Value = r.json().await.unwrap();
    assert_eq!(updated["status"], "in_review");
    let lines = eventually(Duration::from_secs(10), || async {
        let s = std::fs::read_to_string(&sent).ok()?;
        (s.lines().count() == 2).then_some(s)
    })
    .await
    .expect("status notice injected");
    let notice = lines.lines().nth(1).unwrap();
    assert!(
        notice.contains(&code) && notice.contains("sedang ditinjau"),
        "{notice}"
    );
    app.stop().await;
    db.drop_db().await;
}
both_backends!(gammu_receive_stores_once_and_acknowledges);

#[test]
fn gammu_receive_fails_loudly_so_gammu_keeps_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let (script, _) = inject_script(dir.path());
    // No sender number: an input error.
    let db = dir.path().join("db.sqlite");
    let toml = config_toml(
        &format!("sqlite://{}", db.display()),
        "",
        &gammu_channel(&script),
    );
    let config = dir.path().join("salur.toml");
    std::fs::write(&config, &toml).unwrap();
    let (code, _, err) = receive(
        &config,
        &["1"],
        &[("SMS_MESSAGES", "1"), ("SMS_1_TEXT", "x")],
    );
    assert_eq!(code, 65, "{err}");
    assert!(err.contains("SMS_1_NUMBER"), "{err}");

    // A database that cannot be reached: a temporary failure.
    let toml = config_toml(
        "postgres://postgres@127.0.0.1:9/salur",
        "",
        &gammu_channel(&script),
    );
    std::fs::write(&config, &toml).unwrap();
    let (code, _, err) = receive(&config, &["1"], GROUP);
    assert_eq!(code, 75, "{err}");
    assert!(err.contains("could not be stored"), "{err}");
}

async fn one_number_gets_at_most_the_reply_limit(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (script, sent) = inject_script(dir.path());
    // Each SMS its own complaint, so each would get an acknowledgement.
    let channel = format!("{}assemble = false\n", gammu_channel(&script));
    let toml = config_toml(
        &db.url,
        "seal_interval = \"100ms\"\nreply_limit = 3\nreply_window = \"1h\"",
        &channel,
    );
    let config = dir.path().join("salur.toml");
    std::fs::write(&config, &toml).unwrap();
    for i in 0..5 {
        let text = format!("Aduan ke-{i}: air PDAM tidak mengalir");
        let env = [
            ("SMS_MESSAGES", "1"),
            ("SMS_1_NUMBER", "+6281299990000"),
            ("SMS_1_TEXT", text.as_str()),
        ];
        let id = format!("IN_{i}");
        let (code, _, err) = receive(&config, &[&id], &env);
        assert_eq!(code, 0, "{err}");
    }
    let app = TestApp::start(&toml, &test_env(&[])).await;
    eventually(Duration::from_secs(10), || async {
        (app.counts().await.complaints == 5).then_some(())
    })
    .await
    .expect("five complaints");
    let lines = eventually(Duration::from_secs(10), || async {
        let s = std::fs::read_to_string(&sent).ok()?;
        (s.lines().count() >= 3).then_some(s)
    })
    .await
    .expect("acknowledgements injected");
    // Give the replier time to send anything beyond the limit, then check it did not.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let lines = std::fs::read_to_string(&sent).unwrap_or(lines);
    assert_eq!(lines.lines().count(), 3, "the limit holds: {lines}");
    assert_eq!(
        app.read(Suppressed).await,
        2,
        "the rest is recorded, not sent"
    );
    app.stop().await;
    db.drop_db().await;
}
both_backends!(one_number_gets_at_most_the_reply_limit);

/// Replies held back by the per-number limit.
struct Suppressed;

impl Op for Suppressed {
    type Output = usize;

    async fn run<C: Tx>(&mut self, c: &mut C) -> StoreResult<usize> {
        let mut n = 0;
        for id in c.complaint_ids_after("", 100).await? {
            n += c
                .outbound_for_complaint(&id)
                .await?
                .iter()
                .filter(|o| o.state == "suppressed")
                .count();
        }
        Ok(n)
    }
}
