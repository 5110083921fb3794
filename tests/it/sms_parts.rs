//! Vonage delivers a long SMS as separate requests, one per part. The parts
//! are joined into one complaint, in order, whatever order they come in;
//! a repeated part changes nothing; a part that never comes leaves a marked
//! gap after the part timeout; a restart between parts loses nothing.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use salur::store::{Op, Result as StoreResult, Tx};
use serde_json::Value;

use crate::both_backends;
use crate::support::{Backend, TestApp, TestDb, config_toml, eventually, test_env};

const INTAKE: &str = "quiet_period = \"1s\"\nseal_interval = \"100ms\"\npart_timeout = \"2s\"";

const VONAGE: &str = r#"
[[channels]]
name = "sms-vonage"
kind = "sms"
provider = "vonage"
allow_unsigned = true
api_key = "test-key"
api_secret = "test-secret"
from = "SALUR"
# Nothing listens here: acknowledgements stay queued, which the tests read.
api_url = "http://127.0.0.1:9"
"#;

/// One part of a concatenated SMS, as Vonage's inbound webhook sends it.
struct Part<'a> {
    id: &'a str,
    from: &'a str,
    group: &'a str,
    index: u16,
    total: u16,
    text: &'a str,
}

async fn send(app: &TestApp, p: &Part<'_>) {
    let (index, total) = (p.index.to_string(), p.total.to_string());
    let query = [
        ("msisdn", p.from),
        ("to", "628111222333"),
        ("messageId", p.id),
        ("text", p.text),
        ("type", "unicode"),
        ("keyword", "JALAN"),
        ("message-timestamp", "2026-11-29 08:15:00"),
        ("concat", "true"),
        ("concat-ref", p.group),
        ("concat-total", &total),
        ("concat-part", &index),
    ];
    let r = app
        .http
        .get(format!("{}/webhooks/sms/sms-vonage", app.base))
        .query(&query)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "part {} of {}", p.index, p.total);
}

/// Our id and complaint for a Vonage message id.
struct Find(&'static str);

impl Op for Find {
    type Output = Option<(String, Option<String>)>;

    async fn run<C: Tx>(&mut self, c: &mut C) -> StoreResult<Self::Output> {
        c.find_inbound("sms-vonage", self.0).await
    }
}

/// The acknowledgements queued for a complaint.
struct Acks(String);

impl Op for Acks {
    type Output = Vec<String>;

    async fn run<C: Tx>(&mut self, c: &mut C) -> StoreResult<Vec<String>> {
        let replies = c.outbound_for_complaint(&self.0).await?;
        Ok(replies
            .into_iter()
            .filter(|r| r.kind == "acknowledgement")
            .map(|r| r.body)
            .collect())
    }
}

/// Waits until the message is linked to a complaint; returns the complaint.
async fn complaint_of(app: &TestApp, id: &'static str) -> Value {
    let cid = eventually(Duration::from_secs(10), || async {
        app.read(Find(id)).await.and_then(|(_, c)| c)
    })
    .await
    .unwrap_or_else(|| panic!("{id} joined a complaint"));
    app.complaint(&cid).await
}

async fn start(db: &TestDb) -> TestApp {
    TestApp::start(&config_toml(&db.url, INTAKE, VONAGE), &test_env(&[])).await
}

async fn parts_join_in_order_once(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let app = start(&db).await;
    let from = "6281311112222";
    let parts = [
        Part {
            id: "v-a1",
            from,
            group: "7A",
            index: 1,
            total: 3,
            text: "Jembatan di Desa Sukamaju ",
        },
        Part {
            id: "v-a2",
            from,
            group: "7A",
            index: 2,
            total: 3,
            text: "retak dan miring sejak banjir, ",
        },
        Part {
            id: "v-a3",
            from,
            group: "7A",
            index: 3,
            total: 3,
            text: "warga takut lewat 😟",
        },
    ];
    // Out of order: 3, then 1; nothing is made while 2 is missing.
    send(&app, &parts[2]).await;
    send(&app, &parts[0]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        app.counts().await.complaints,
        0,
        "the group waits for part 2"
    );
    assert_eq!(
        app.counts().await.messages,
        2,
        "each part is stored as it comes"
    );
    // Part 3 again, same id: a transport replay.
    send(&app, &parts[2]).await;
    assert_eq!(app.counts().await.messages, 2);
    send(&app, &parts[1]).await;
    let c = complaint_of(&app, "v-a1").await;
    assert_eq!(
        c["body"],
        "Jembatan di Desa Sukamaju retak dan miring sejak banjir, warga takut lewat 😟"
    );
    assert_eq!(c["message_ids"].as_array().unwrap().len(), 3);
    assert_eq!(c["reporter"]["phone"], "+6281311112222");
    for id in ["v-a2", "v-a3"] {
        assert_eq!(complaint_of(&app, id).await["id"], c["id"]);
    }
    // The same part delivered again under a new id changes nothing.
    send(
        &app,
        &Part {
            id: "v-a2-again",
            ..parts[1]
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let again = app.complaint(c["id"].as_str().unwrap()).await;
    assert_eq!(again["body"], c["body"]);
    assert_eq!(app.counts().await.complaints, 1);
    assert_eq!(
        app.counts().await.messages,
        4,
        "the copy is kept, linked to nothing"
    );
    let acks = app.read(Acks(c["id"].as_str().unwrap().to_owned())).await;
    assert_eq!(
        acks.len(),
        1,
        "one acknowledgement for the long message: {acks:?}"
    );
    assert!(
        acks[0].contains(c["tracking_code"].as_str().unwrap()),
        "{acks:?}"
    );

    app.stop().await;
    db.drop_db().await;
}
both_backends!(parts_join_in_order_once);

async fn a_missing_part_leaves_a_marked_gap(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let app = start(&db).await;
    let from = "6281322223333";
    send(
        &app,
        &Part {
            id: "v-b1",
            from,
            group: "11",
            index: 1,
            total: 3,
            text: "Lampu jalan di Jl. Melati ",
        },
    )
    .await;
    send(
        &app,
        &Part {
            id: "v-b3",
            from,
            group: "11",
            index: 3,
            total: 3,
            text: "mohon diperbaiki",
        },
    )
    .await;
    // After the part timeout (2 s) what arrived becomes the complaint.
    let c = complaint_of(&app, "v-b1").await;
    assert_eq!(
        c["body"],
        "Lampu jalan di Jl. Melati [bagian 2 dari 3 tidak diterima] mohon diperbaiki"
    );
    assert_eq!(c["message_ids"].as_array().unwrap().len(), 2);
    let acks = app.read(Acks(c["id"].as_str().unwrap().to_owned())).await;
    assert_eq!(acks.len(), 1, "what arrived is acknowledged: {acks:?}");
    // The missing part, arriving late, is added to that complaint.
    send(
        &app,
        &Part {
            id: "v-b2",
            from,
            group: "11",
            index: 2,
            total: 3,
            text: "mati sejak seminggu, ",
        },
    )
    .await;
    let late = complaint_of(&app, "v-b2").await;
    assert_eq!(late["id"], c["id"]);
    assert!(
        late["body"]
            .as_str()
            .unwrap()
            .ends_with("mati sejak seminggu,"),
        "{late}"
    );
    assert_eq!(app.counts().await.complaints, 1);
    let acks = app.read(Acks(c["id"].as_str().unwrap().to_owned())).await;
    assert_eq!(acks.len(), 1, "a late part is not acknowledged again");

    app.stop().await;
    db.drop_db().await;
}
both_backends!(a_missing_part_leaves_a_marked_gap);

async fn a_restart_between_parts_loses_nothing(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let from = "6281344445555";
    let app = start(&db).await;
    send(
        &app,
        &Part {
            id: "v-c1",
            from,
            group: "C0",
            index: 1,
            total: 2,
            text: "Saluran air tersumbat ",
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.stop().await;

    let app = start(&db).await;
    send(
        &app,
        &Part {
            id: "v-c2",
            from,
            group: "C0",
            index: 2,
            total: 2,
            text: "di RT 04 RW 02",
        },
    )
    .await;
    let c = complaint_of(&app, "v-c1").await;
    assert_eq!(c["body"], "Saluran air tersumbat di RT 04 RW 02");
    assert_eq!(complaint_of(&app, "v-c2").await["id"], c["id"]);

    app.stop().await;
    db.drop_db().await;
}
both_backends!(a_restart_between_parts_loses_nothing);
