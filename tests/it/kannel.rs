//! End to end through a real Kannel: fakesmsc injects SMS as a GSM modem
//! would, bearerbox and smsbox hand them to Salur's webhook, and the
//! acknowledgement with the tracking code goes back out through Kannel's
//! sendsms to fakesmsc. A flood of 1,000 SMS loses none and duplicates none.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use salur::store::{Op, Result as StoreResult, Tx};

use crate::kannel_rig::KannelRig;
use crate::support::{Backend, TestApp, TestDb, config_toml, eventually, test_env};

const SECRET: &str = "kannel-secret-1";

/// Replies sent, per state.
struct ReplyStates;

impl Op for ReplyStates {
    type Output = (i64, i64);

    async fn run<C: Tx>(&mut self, c: &mut C) -> StoreResult<(i64, i64)> {
        let all = c.count_rows("outbound_messages").await?;
        let complaints = c.count_complaints().await?;
        Ok((all, complaints))
    }
}

fn channel(sendsms: &str, user: &str, password: &str) -> String {
    format!(
        r#"
[[channels]]
name = "sms-kannel"
kind = "sms"
provider = "kannel"
secret = "{SECRET}"
api_url = "{sendsms}"
username = "{user}"
password = "{password}"
from = "1708"
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_through_kannel_become_complaints_and_get_their_codes_back() {
    let Some(db) = TestDb::new(Backend::Sqlite).await else {
        return;
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let get_url = format!(
        "http://127.0.0.1:{port}/webhooks/sms/sms-kannel?secret={SECRET}&id=%I&from=%p&to=%P\
         &text=%b&time=%T&coding=%c&charset=%C&udh=%u&smsc=%i"
    );
    let Some(rig) = KannelRig::start(&get_url).await else {
        return;
    };
    let (user, password) = rig.sendsms_user();
    let toml = config_toml(
        &db.url,
        "quiet_period = \"1s\"\nseal_interval = \"100ms\"",
        &channel(&rig.sendsms_url(), user, password),
    );
    let app = TestApp::start_on(listener, &toml, &test_env(&[])).await;

    // One SMS, in UCS-2 with an emoji, from a number in local form.
    rig.inject(
        "081234500001",
        "1708",
        "Jalan berlubang di depan SDN 3 Sukamaju 😡",
    )
    .await;
    let sent = rig.wait_received(1, Duration::from_secs(20)).await;
    assert_eq!(sent.len(), 1, "one acknowledgement: {sent:?}");
    let (from, to, text) = &sent[0];
    assert_eq!(from, "1708");
    assert_eq!(to, "+6281234500001", "sent to the E.164 number");
    let page: serde_json::Value = app
        .api_get("/api/v1/complaints?channel=sms-kannel")
        .await
        .json()
        .await
        .unwrap();
    let c = &page["items"][0];
    assert_eq!(c["body"], "Jalan berlubang di depan SDN 3 Sukamaju 😡");
    assert_eq!(c["reporter"]["phone"], "+6281234500001");
    let code = c["tracking_code"].as_str().unwrap();
    assert!(
        text.contains(code),
        "the acknowledgement gives {code}: {text}"
    );

    // A flood: 1,000 SMS from 1,000 numbers.
    let started = Instant::now();
    for i in 0..1000 {
        rig.inject(
            &format!("0812{:07}", 1_000_000 + i),
            "1708",
            &format!("Aduan nomor {i}: sampah menumpuk di pasar"),
        )
        .await;
    }
    let injected = started.elapsed();
    let done = eventually(Duration::from_secs(120), || async {
        let (replies, complaints) = app.read(ReplyStates).await;
        (complaints == 1001 && replies == 1001).then_some(())
    })
    .await;
    let counts = app.counts().await;
    assert!(
        done.is_some(),
        "every SMS became a complaint with one reply: {counts:?}"
    );
    assert_eq!(counts.messages, 1001, "none lost, none stored twice");
    let acks = rig.wait_received(1001, Duration::from_secs(120)).await;
    assert_eq!(acks.len(), 1001, "every citizen got one acknowledgement");
    let numbers: HashSet<&str> = acks.iter().map(|(_, to, _)| to.as_str()).collect();
    assert_eq!(numbers.len(), 1001, "one acknowledgement per number");
    println!(
        "kannel flood: 1,000 SMS injected in {:.2?}, all stored and acknowledged after {:.2?}",
        injected,
        started.elapsed()
    );
    app.stop().await;
    db.drop_db().await;
}
