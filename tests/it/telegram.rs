//! The Telegram bot through the real app and a fake Bot API: the guided
//! dialogue in polling mode (with a restart in the middle), cancelling,
//! the quiet period, commands, shared contacts, albums, edits, group
//! chats, blocked citizens, webhook mode, and a poller killed between its
//! commit and its offset confirmation.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use salur::store::{Op, OutboundRow, Result as StoreResult, Tx};
use serde_json::{Value, json};

use crate::support::{
    Backend, CountAll, TestApp, TestDb, config_toml, eventually, free_port, read_at, test_env,
};
use crate::telegram_fake::{self as tg, FakeBot};

const WAIT: Duration = Duration::from_secs(15);
const CITIZEN: i64 = 424_242;
const WEBHOOK_SECRET: &str = "tg-webhook-secret-1";

fn channel(fake: &FakeBot, extra: &str) -> String {
    format!(
        "[[channels]]\nname = \"tg-warga\"\nkind = \"telegram\"\ntoken = \"env:T_TG_TOKEN\"\n\
         api_url = \"{}\"\npoll_timeout = \"1s\"\n{extra}\n",
        fake.api_url
    )
}

fn env() -> salur::config::Environment {
    test_env(&[("T_TG_TOKEN", tg::TOKEN), ("T_TG_SECRET", WEBHOOK_SECRET)])
}

async fn start(db: &TestDb, fake: &FakeBot, intake: &str, extra: &str) -> TestApp {
    let toml = config_toml(&db.url, intake, &channel(fake, extra));
    TestApp::start(&toml, &env()).await
}

/// The long quiet period of a citizen who answers every question.
const PATIENT: &str = "quiet_period = \"10m\"\nseal_interval = \"100ms\"";

struct Outbound(String);

impl Op for Outbound {
    type Output = Vec<OutboundRow>;
    async fn run<C: Tx>(&mut self, c: &mut C) -> StoreResult<Vec<OutboundRow>> {
        c.outbound_for_complaint(&self.0).await
    }
}

async fn complaints(app: &TestApp) -> Vec<Value> {
    let list: Value = app
        .api_get("/api/v1/complaints?limit=50")
        .await
        .json()
        .await
        .unwrap();
    list["items"].as_array().cloned().unwrap_or_default()
}

/// The only complaint, once there is one.
async fn the_complaint(app: &TestApp) -> Value {
    eventually(WAIT, || async {
        let items = complaints(app).await;
        (items.len() == 1).then(|| items[0].clone())
    })
    .await
    .expect("one complaint")
}

fn keyboard(sent: &tg::Sent) -> Value {
    sent.reply_markup.clone().unwrap_or(Value::Null)
}

async fn guided_dialogue(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let fake = FakeBot::start(tg::TOKEN).await;
    let app = start(&db, &fake, PATIENT, "").await;
    let mut msg = 1;
    let mut next = |fake: &FakeBot| {
        msg += 1;
        (fake.next_update_id(), msg)
    };

    // /start explains the service and offers to share the phone number.
    let (u, m) = next(&fake);
    fake.push(tg::command(u, CITIZEN, m, "/start"));
    let sent = fake.wait_sent(1, WAIT).await;
    assert_eq!(sent[0].chat_id, CITIZEN);
    assert!(sent[0].text.contains("SP4N-LAPOR!"), "{}", sent[0].text);
    assert_eq!(
        keyboard(&sent[0])["keyboard"][0][0]["request_contact"],
        true
    );

    // The citizen shares their own number: it is the reporter's now.
    let (u, m) = next(&fake);
    fake.push(tg::contact(u, CITIZEN, m, "0812-3456-7890", Some(CITIZEN)));
    let sent = fake.wait_sent(2, WAIT).await;
    assert!(sent[1].text.contains("+6281234567890"), "{}", sent[1].text);

    // The complaint text: the bot asks for the location.
    let (u, m) = next(&fake);
    fake.push(tg::text(
        u,
        CITIZEN,
        m,
        "Jalan di depan SDN 3 Sukamaju berlubang besar sejak seminggu",
    ));
    let sent = fake.wait_sent(3, WAIT).await;
    assert!(sent[2].text.contains("lokasi"), "{}", sent[2].text);
    let keys = keyboard(&sent[2]);
    assert_eq!(keys["keyboard"][0][0]["request_location"], true, "{keys}");
    assert_eq!(keys["keyboard"][1][0]["text"], "Lewati");

    // Skipping the location: the photos question.
    let (u, m) = next(&fake);
    fake.push(tg::text(u, CITIZEN, m, "Lewati"));
    let sent = fake.wait_sent(4, WAIT).await;
    assert!(sent[3].text.contains("foto"), "{}", sent[3].text);
    assert_eq!(keyboard(&sent[3])["keyboard"][0][0]["text"], "Lanjut");

    // Salur restarts in the middle of the dialogue.
    app.stop().await;
    let app = start(&db, &fake, PATIENT, "").await;

    // A photo, then Next: the privacy question.
    fake.add_file(
        "foto-lubang",
        b"\xff\xd8\xff\xe0 a jpeg of a pothole".to_vec(),
    );
    let (u, m) = next(&fake);
    fake.push(tg::photo(
        u,
        CITIZEN,
        m,
        "foto-lubang",
        Some("Ini fotonya"),
        None,
    ));
    let (u, m) = next(&fake);
    fake.push(tg::text(u, CITIZEN, m, "Lanjut"));
    let sent = fake.wait_sent(5, WAIT).await;
    assert!(sent[4].text.contains("Anonim"), "{}", sent[4].text);
    let choices = keyboard(&sent[4]);
    assert_eq!(
        choices["inline_keyboard"][0][1]["callback_data"], "privacy:anonymous",
        "{choices}"
    );

    // Anonymous: the question shows the choice, and the summary follows.
    let (u, _) = next(&fake);
    fake.push(tg::callback(
        u,
        CITIZEN,
        "cb-privacy",
        "privacy:anonymous",
        sent[4].message_id,
    ));
    let sent = fake.wait_sent(6, WAIT).await;
    let summary = &sent[5];
    assert!(summary.text.contains("berlubang besar"), "{}", summary.text);
    assert!(summary.text.contains("Lampiran: 1"), "{}", summary.text);
    assert!(
        summary.text.contains("Lokasi: tidak ada"),
        "{}",
        summary.text
    );
    assert!(
        summary.text.contains("Penanganan: Anonim"),
        "{}",
        summary.text
    );
    assert_eq!(
        keyboard(summary)["inline_keyboard"][0][0]["callback_data"],
        "send"
    );
    let edits = fake.wait_edits(1, WAIT).await;
    assert_eq!(edits[0].message_id, sent[4].message_id);
    assert!(edits[0].text.contains("→ Anonim"), "{}", edits[0].text);

    // Nothing is published before Send.
    let open = the_complaint(&app).await;
    assert_eq!(app.counts().await.events, 0);
    assert_eq!(open["anonymous"], true);

    // Send: the tracking code comes, the summary loses its buttons.
    let (u, _) = next(&fake);
    fake.push(tg::callback(
        u,
        CITIZEN,
        "cb-send",
        "send",
        summary.message_id,
    ));
    let sent = fake.wait_sent(7, WAIT).await;
    let complaint = the_complaint(&app).await;
    let code = complaint["tracking_code"].as_str().unwrap().to_owned();
    assert!(
        sent[6].text.contains(&code),
        "{} lacks {code}",
        sent[6].text
    );
    let edits = fake.wait_edits(2, WAIT).await;
    assert_eq!(edits[1].message_id, summary.message_id);
    assert!(edits[1].text.contains("Terkirim"), "{}", edits[1].text);
    let answered: Vec<String> = fake
        .callback_answers()
        .iter()
        .filter_map(|a| a["callback_query_id"].as_str().map(str::to_owned))
        .collect();
    assert!(
        answered.contains(&"cb-privacy".to_owned()) && answered.contains(&"cb-send".to_owned()),
        "{answered:?}"
    );

    // The record: the citizen's words only, their choices, their number,
    // the photo (downloaded), published once.
    assert_eq!(complaint["channel"], "telegram");
    assert_eq!(complaint["status"], "new");
    assert_eq!(complaint["anonymous"], true);
    assert_eq!(complaint["confidential"], false);
    assert_eq!(
        complaint["reporter"]["handle"],
        format!("telegram:{CITIZEN}")
    );
    assert_eq!(complaint["reporter"]["phone"], "+6281234567890");
    let body = complaint["body"].as_str().unwrap();
    assert!(
        body.contains("berlubang besar") && body.contains("Ini fotonya"),
        "{body}"
    );
    assert!(
        !body.contains("Lewati") && !body.contains("Lanjut"),
        "{body}"
    );
    assert_eq!(complaint["attachments"].as_array().unwrap().len(), 1);
    let downloaded = eventually(WAIT, || async { (fake.downloads() >= 1).then_some(()) }).await;
    assert!(downloaded.is_some(), "the photo is fetched through getFile");
    assert_eq!(app.counts().await.events, 1);

    // /status: the citizen's own complaint, by its code.
    let (u, m) = next(&fake);
    fake.push(tg::command(u, CITIZEN, m, &format!("/status {code}")));
    let sent = fake.wait_sent(8, WAIT).await;
    assert!(
        sent[7].text.contains(&code) && sent[7].text.contains("baru diterima"),
        "{}",
        sent[7].text
    );
    // Someone else asking about it learns nothing.
    let (u, m) = next(&fake);
    fake.push(tg::command(u, CITIZEN + 1, m, &format!("/status {code}")));
    let sent = fake.wait_sent(9, WAIT).await;
    assert_eq!(sent[8].chat_id, CITIZEN + 1);
    assert!(sent[8].text.contains("tidak ditemukan"), "{}", sent[8].text);
    assert!(!sent[8].text.contains("baru diterima"));

    // An admin's status change is told in the chat.
    let id = complaint["id"].as_str().unwrap();
    let r = app
        .http
        .patch(format!("{}/api/v1/complaints/{id}", app.base))
        .bearer_auth(crate::support::API_TOKEN)
        .json(&json!({"status": "in_review"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let sent = fake.wait_sent(10, WAIT).await;
    assert_eq!(sent[9].chat_id, CITIZEN);
    assert!(
        sent[9].text.contains(&code) && sent[9].text.contains("sedang ditinjau"),
        "{}",
        sent[9].text
    );

    app.stop().await;
    db.drop_db().await;
}
crate::both_backends!(guided_dialogue);

/// A location answers the location question; Cancel withdraws the draft:
/// kept with its messages, never published, never acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_complaint_is_kept_and_never_published() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let fake = FakeBot::start(tg::TOKEN).await;
    let app = start(&db, &fake, PATIENT, "").await;

    fake.push(tg::with_language(
        tg::text(
            fake.next_update_id(),
            CITIZEN,
            10,
            "The street lamp is broken",
        ),
        "en",
    ));
    let sent = fake.wait_sent(1, WAIT).await;
    assert!(sent[0].text.contains("Where is it"), "{}", sent[0].text);
    fake.push(tg::with_language(
        tg::location(fake.next_update_id(), CITIZEN, 11, -7.2575, 112.7521),
        "en",
    ));
    let sent = fake.wait_sent(2, WAIT).await;
    assert!(sent[1].text.contains("photos"), "{}", sent[1].text);

    // /bahasa switches to Indonesian for good, whatever the app says.
    fake.push(tg::with_language(
        tg::command(fake.next_update_id(), CITIZEN, 12, "/bahasa id"),
        "en",
    ));
    let sent = fake.wait_sent(3, WAIT).await;
    assert!(
        sent[2].text.starts_with("Bahasa: Indonesia"),
        "{}",
        sent[2].text
    );

    fake.push(tg::command(fake.next_update_id(), CITIZEN, 13, "/batal"));
    let sent = fake.wait_sent(4, WAIT).await;
    assert!(sent[3].text.contains("dibatalkan"), "{}", sent[3].text);
    assert_eq!(keyboard(&sent[3])["remove_keyboard"], true);

    let complaint = the_complaint(&app).await;
    assert_eq!(complaint["status"], "closed");
    assert!(complaint["location"]["lat"].as_f64().is_some());
    let counts = app.counts().await;
    assert_eq!(counts.events, 0, "a withdrawn draft is never published");
    assert_eq!(counts.messages, 4, "every message stays stored");
    let id = complaint["id"].as_str().unwrap().to_owned();
    let replies = app.read(Outbound(id)).await;
    assert!(
        replies.iter().all(|r| r.kind != "acknowledgement"),
        "{replies:?}"
    );

    // A second /batal has nothing to cancel.
    fake.push(tg::command(fake.next_update_id(), CITIZEN, 14, "/cancel"));
    let sent = fake.wait_sent(5, WAIT).await;
    assert!(sent[4].text.contains("Tidak ada aduan"), "{}", sent[4].text);

    app.stop().await;
}

/// A citizen who ignores the questions still gets a complaint, and its
/// tracking code, once the quiet period passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citizen_who_ignores_the_questions_gets_a_complaint() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let fake = FakeBot::start(tg::TOKEN).await;
    let quick = "quiet_period = \"1s\"\nseal_interval = \"100ms\"";
    let app = start(&db, &fake, quick, "").await;

    fake.push(tg::text(
        fake.next_update_id(),
        CITIZEN,
        20,
        "Sampah menumpuk di pasar",
    ));
    let sent = fake.wait_sent(2, WAIT).await;
    assert!(sent[0].text.contains("lokasi"), "{}", sent[0].text);
    let complaint = the_complaint(&app).await;
    let code = complaint["tracking_code"].as_str().unwrap();
    assert!(sent[1].text.contains(code), "{}", sent[1].text);
    assert_eq!(app.counts().await.events, 1);

    // A tap on the old question's button now says where it went.
    fake.push(tg::callback(
        fake.next_update_id(),
        CITIZEN,
        "cb-late",
        "privacy:none",
        sent[0].message_id,
    ));
    let edits = fake.wait_edits(1, WAIT).await;
    assert!(edits[0].text.contains(code), "{}", edits[0].text);

    app.stop().await;
}

/// Three photos of one album become one complaint with three attachments;
/// an edit replaces the text it edited, and both versions stay stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_album_is_one_complaint_and_an_edit_updates_its_text() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let fake = FakeBot::start(tg::TOKEN).await;
    let app = start(&db, &fake, PATIENT, "guided = false").await;

    fake.push(tg::text(
        fake.next_update_id(),
        CITIZEN,
        30,
        "Banjir di gang mawar",
    ));
    for (i, file) in ["album-1", "album-2", "album-3"].into_iter().enumerate() {
        fake.add_file(file, format!("photo {i}").into_bytes());
        let caption = (i == 0).then_some("Air setinggi lutut");
        fake.push(tg::photo(
            fake.next_update_id(),
            CITIZEN,
            31 + i64::try_from(i).unwrap(),
            file,
            caption,
            Some("13595046612"),
        ));
    }
    let complaint = eventually(WAIT, || async {
        let items = complaints(&app).await;
        let c = items.first()?.clone();
        (c["attachments"].as_array()?.len() == 3).then_some(c)
    })
    .await
    .expect("one complaint with three attachments");
    assert_eq!(complaints(&app).await.len(), 1);
    assert!(
        complaint["body"]
            .as_str()
            .unwrap()
            .contains("Air setinggi lutut")
    );

    fake.push(tg::edited_text(
        fake.next_update_id(),
        CITIZEN,
        30,
        "Banjir di gang melati, bukan mawar",
    ));
    let edited = eventually(WAIT, || async {
        let c = complaints(&app).await.first()?.clone();
        c["body"].as_str()?.contains("gang melati").then_some(c)
    })
    .await
    .expect("the edit reaches the complaint");
    let body = edited["body"].as_str().unwrap();
    assert!(!body.contains("gang mawar"), "{body}");
    assert!(body.contains("Air setinggi lutut"), "{body}");
    assert_eq!(edited["message_ids"].as_array().unwrap().len(), 5);
    assert_eq!(app.counts().await.messages, 5, "the original stays stored");
    let downloaded = eventually(WAIT, || async { (fake.downloads() >= 3).then_some(()) }).await;
    assert!(downloaded.is_some(), "all three photos are fetched");

    app.stop().await;
}

/// A citizen who blocked the bot is recorded (the reply is dead with
/// Telegram's words) and holds nobody else up; a flood-limit answer is
/// retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_citizen_is_recorded_and_stalls_nothing() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let fake = FakeBot::start(tg::TOKEN).await;
    let app = start(&db, &fake, PATIENT, "").await;

    fake.block_chat(CITIZEN);
    fake.rate_limit_next(1, 1);
    fake.push(tg::text(
        fake.next_update_id(),
        CITIZEN,
        40,
        "Lampu jalan mati",
    ));
    fake.push(tg::text(
        fake.next_update_id(),
        CITIZEN + 7,
        41,
        "Saluran air tersumbat",
    ));

    let sent = fake.wait_sent(1, WAIT).await;
    assert_eq!(sent[0].chat_id, CITIZEN + 7);
    let blocked = eventually(WAIT, || async {
        let items = complaints(&app).await;
        let mine = items
            .iter()
            .find(|c| c["reporter"]["handle"] == format!("telegram:{CITIZEN}"))?;
        let rows = app.read(Outbound(mine["id"].as_str()?.to_owned())).await;
        rows.into_iter().find(|r| r.state == "dead")
    })
    .await
    .expect("the reply to the blocked citizen is recorded as dead");
    let error = blocked.last_error.unwrap_or_default();
    assert!(error.contains("blocked"), "{error}");

    // The channel goes on.
    fake.push(tg::text(
        fake.next_update_id(),
        CITIZEN + 8,
        42,
        "Pohon tumbang",
    ));
    let sent = fake.wait_sent(2, WAIT).await;
    assert_eq!(sent[1].chat_id, CITIZEN + 8);

    app.stop().await;
}

/// Group chats are ignored unless the channel allows them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_chats_are_ignored_unless_allowed() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let fake = FakeBot::start(tg::TOKEN).await;
    let app = start(&db, &fake, PATIENT, "").await;
    fake.push(tg::group_text(
        fake.next_update_id(),
        CITIZEN,
        -100_555,
        50,
        "halo semua",
    ));
    fake.push(tg::text(
        fake.next_update_id(),
        CITIZEN,
        51,
        "Jembatan retak",
    ));
    fake.wait_sent(1, WAIT).await;
    let counts = app.counts().await;
    assert_eq!((counts.messages, counts.complaints), (1, 1));
    app.stop().await;

    // With `allow_groups`, a group message is a complaint of its sender.
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let app = start(&db, &fake, PATIENT, "allow_groups = true\nguided = false").await;
    fake.push(tg::group_text(
        fake.next_update_id(),
        CITIZEN,
        -100_555,
        52,
        "Lampu taman mati",
    ));
    let complaint = the_complaint(&app).await;
    assert_eq!(
        complaint["reporter"]["handle"],
        format!("telegram:{CITIZEN}")
    );
    assert_eq!(complaint["body"], "Lampu taman mati");
    app.stop().await;
}

/// Webhook mode: the secret header is checked in constant time (good,
/// bad, missing), a replayed update is answered 200 and stored once, and
/// `salur telegram-webhook` registers the URL with its secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_mode_checks_the_secret_and_recognises_replays() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let fake = FakeBot::start(tg::TOKEN).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let extra = "mode = \"webhook\"\nwebhook_secret = \"env:T_TG_SECRET\"\n";
    let toml = config_toml(&db.url, PATIENT, &channel(&fake, extra)).replace(
        "[server]\n",
        &format!("[server]\npublic_url = \"{base}\"\n"),
    );
    let app = TestApp::start_on(listener, &toml, &env()).await;

    let done = salur::telegram::set_webhook(&app.app, "tg-warga", false)
        .await
        .unwrap();
    assert!(done.contains("/webhooks/telegram/tg-warga"), "{done}");
    assert_eq!(
        fake.webhook(),
        Some((
            format!("{base}/webhooks/telegram/tg-warga"),
            Some(WEBHOOK_SECRET.to_owned())
        ))
    );

    let update = tg::text(fake.next_update_id(), CITIZEN, 60, "Trotoar rusak");
    let post = |secret: Option<&str>| {
        let mut r = app
            .http
            .post(format!("{}/webhooks/telegram/tg-warga", app.base))
            .header("content-type", "application/json")
            .body(update.to_string());
        if let Some(s) = secret {
            r = r.header("x-telegram-bot-api-secret-token", s);
        }
        r.send()
    };
    assert_eq!(post(None).await.unwrap().status(), 401);
    assert_eq!(post(Some("wrong")).await.unwrap().status(), 401);
    assert_eq!(app.counts().await.messages, 0);
    assert_eq!(post(Some(WEBHOOK_SECRET)).await.unwrap().status(), 200);
    assert_eq!(post(Some(WEBHOOK_SECRET)).await.unwrap().status(), 200);
    assert_eq!(app.counts().await.messages, 1, "the replay stores nothing");
    let complaint = the_complaint(&app).await;
    assert_eq!(complaint["channel"], "telegram");
    fake.wait_sent(1, WAIT).await;

    // Malformed bodies are refused with a clear message, storing nothing.
    let r = app
        .http
        .post(format!("{}/webhooks/telegram/tg-warga", app.base))
        .header("x-telegram-bot-api-secret-token", WEBHOOK_SECRET)
        .body("{\"message\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(app.counts().await.messages, 1);

    // A polling bot takes no webhook.
    let r = app
        .http
        .post(format!("{}/webhooks/telegram/nope", app.base))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    let removed = salur::telegram::set_webhook(&app.app, "tg-warga", true)
        .await
        .unwrap();
    assert!(removed.contains("removed"), "{removed}");
    assert_eq!(fake.webhook(), None);
    app.stop().await;
}

/// `salur serve` polling a bot is killed after it committed a batch and
/// before it confirmed the offset: the next run gets the same updates
/// again and stores nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poller_killed_before_confirming_stores_nothing_twice() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let fake = FakeBot::start(tg::TOKEN).await;
    let port = free_port();
    let toml = config_toml(&db.url, PATIENT, &channel(&fake, "")).replace(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"127.0.0.1:{port}\""),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("salur.toml");
    std::fs::write(&path, toml).unwrap();
    let spawn = || {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_salur"))
            .args(["--config", path.to_str().unwrap(), "serve"])
            .env("T_API_TOKEN", crate::support::API_TOKEN)
            .env("T_SMS_SECRET", crate::support::SMS_SECRET)
            .env("T_TG_TOKEN", tg::TOKEN)
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    };

    fake.hold_confirm();
    let ids: Vec<i64> = (0..3)
        .map(|i| {
            let u = fake.next_update_id();
            fake.push(tg::text(u, CITIZEN + i, 70 + i, "Air PDAM tidak mengalir"));
            u
        })
        .collect();
    let mut first = spawn();
    // The call that would confirm the batch arrives only after the batch
    // is committed; it is held, and the process dies before it returns.
    fake.wait_held(WAIT).await;
    first.kill().await.unwrap();
    let _ = first.wait().await;
    assert_eq!(fake.queued(), ids, "nothing was confirmed");
    let stored = read_at(&db.url, CountAll).await;
    assert_eq!(stored.messages, 3);

    fake.release_hold();
    let mut second = spawn();
    let confirmed = eventually(Duration::from_secs(40), || async {
        fake.queued().is_empty().then_some(())
    })
    .await;
    let replayed = fake
        .get_updates_calls()
        .iter()
        .filter(|(offset, _)| offset.is_none())
        .count();
    second.kill().await.unwrap();
    let _ = second.wait().await;
    assert!(confirmed.is_some(), "the second run confirms the batch");
    assert!(
        replayed >= 2,
        "each run asked from the start of what is unconfirmed"
    );
    let stored = read_at(&db.url, CountAll).await;
    assert_eq!(stored.messages, 3, "the repeated updates are recognised");
}

struct TakeLease {
    holder: &'static str,
    at: chrono::DateTime<chrono::Utc>,
}

impl Op for TakeLease {
    type Output = bool;
    async fn run<C: Tx>(&mut self, c: &mut C) -> StoreResult<bool> {
        let until = self.at + chrono::Duration::seconds(30);
        c.take_lease("telegram:tg-warga", self.holder, until, self.at)
            .await
    }
}

/// One holder at a time: a second instance is refused while the lease
/// lasts, the holder renews it, and once it expires unrenewed (the holder
/// died) the other takes over.
async fn a_poller_lease_has_one_holder(backend: Backend) {
    let Some((app, db)) = TestApp::on(backend, "", "").await else {
        return;
    };
    let t0 = chrono::Utc::now();
    let at = |secs: i64| t0 + chrono::Duration::seconds(secs);
    let take = |holder, secs| TakeLease {
        holder,
        at: at(secs),
    };
    let store = &app.app.store;
    assert!(store.write(take("a", 0)).await.unwrap());
    assert!(!store.write(take("b", 1)).await.unwrap(), "a holds it");
    assert!(store.write(take("a", 20)).await.unwrap(), "a renews");
    assert!(
        !store.write(take("b", 40)).await.unwrap(),
        "renewed until 50"
    );
    assert!(
        store.write(take("b", 51)).await.unwrap(),
        "expired: b takes over"
    );
    assert!(!store.write(take("a", 52)).await.unwrap(), "a lost it");
    app.stop().await;
    db.drop_db().await;
}
crate::both_backends!(a_poller_lease_has_one_holder);

/// Every complaint a citizen sends through the bot gets its code: the
/// per-number limit that guards SMS does not hold back answers a citizen
/// asked for in their own account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sent_complaint_gets_its_code() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let fake = FakeBot::start(tg::TOKEN).await;
    let quick = "quiet_period = \"1s\"\nseal_interval = \"100ms\"\nreply_limit = 2";
    let app = start(&db, &fake, quick, "").await;
    let topics = [
        "Jalan rusak",
        "Lampu mati",
        "Sampah menumpuk",
        "Saluran tersumbat",
    ];
    for (i, topic) in topics.iter().enumerate() {
        let n = i + 1;
        fake.push(tg::text(
            fake.next_update_id(),
            CITIZEN,
            80 + n as i64,
            topic,
        ));
        // Its question, then its code once the quiet period passes.
        fake.wait_sent(2 * n, WAIT).await;
    }
    let items = complaints(&app).await;
    assert_eq!(items.len(), topics.len());
    let sent: Vec<String> = fake.sent().into_iter().map(|s| s.text).collect();
    for c in items {
        let code = c["tracking_code"].as_str().unwrap();
        assert!(
            sent.iter().any(|t| t.contains(code)),
            "{code} never sent: {sent:?}"
        );
    }
    app.stop().await;
}

/// Answers to one citizen arrive in the order of what they answer, even
/// when several are sent in one round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_to_one_citizen_keep_their_order() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let fake = FakeBot::start(tg::TOKEN).await;
    let app = start(&db, &fake, PATIENT, "").await;
    let commands = ["/start", "/bahasa en", "/bahasa id", "/status", "/batal"];
    for (i, command) in commands.iter().enumerate() {
        fake.push(tg::command(
            fake.next_update_id(),
            CITIZEN,
            90 + i as i64,
            command,
        ));
    }
    let sent = fake.wait_sent(commands.len(), WAIT).await;
    let starts: Vec<&str> = sent
        .iter()
        .map(|s| s.text.split_whitespace().next().unwrap_or_default())
        .collect();
    assert_eq!(
        starts,
        ["Halo!", "Language:", "Bahasa:", "Tulis", "Tidak"],
        "{sent:?}"
    );
    app.stop().await;
}
