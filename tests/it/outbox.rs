//! The outbox end to end: sealed complaints reach NATS JetStream and a
//! signed webhook, retries and dead letters work, `salur replay` re-sends.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::support::{Backend, TestApp, TestDb, config_toml, eventually, sms_body, test_env};

const WEBHOOK_SECRET: &str = "whsec_c2FsdXItdGVzdC1zZWNyZXQtMTIzNDU2Nzg=";

#[derive(Default)]
struct Receiver {
    fail_first: usize,
    calls: AtomicUsize,
    accepted: Mutex<Vec<Value>>,
    bad_signatures: AtomicUsize,
}

/// A webhook receiver that checks the Standard Webhooks signature and fails
/// the first `fail_first` valid calls with 503.
async fn start_receiver(fail_first: usize) -> (String, Arc<Receiver>) {
    let state = Arc::new(Receiver {
        fail_first,
        ..Default::default()
    });
    let s = state.clone();
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let s = s.clone();
            async move {
                if salur::queue::webhook::verify(
                    WEBHOOK_SECRET,
                    &headers,
                    &body,
                    Duration::from_secs(300),
                )
                .is_err()
                {
                    s.bad_signatures.fetch_add(1, Ordering::SeqCst);
                    return StatusCode::UNAUTHORIZED;
                }
                let n = s.calls.fetch_add(1, Ordering::SeqCst);
                if n < s.fail_first {
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                let event: Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(
                    headers["webhook-id"].to_str().unwrap(),
                    event["id"].as_str().unwrap()
                );
                s.accepted.lock().await.push(event);
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (url, state)
}

fn webhook_sink(url: &str) -> String {
    format!(
        "[[sinks]]\nkind = \"webhook\"\nname = \"hook\"\nurl = \"{url}\"\nsecret = \"env:T_WEBHOOK_SECRET\"\n"
    )
}

async fn webhook_retries_until_success(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (url, receiver) = start_receiver(3).await;
    let toml = config_toml(&db.url, "", &webhook_sink(&url));
    let app = TestApp::start(&toml, &test_env(&[("T_WEBHOOK_SECRET", WEBHOOK_SECRET)])).await;
    let ack = app
        .sms(
            "sms-rakit",
            &sms_body("w1", "081234567890", "Drainase tersumbat"),
        )
        .await;

    let events = eventually(Duration::from_secs(15), || async {
        let got = receiver.accepted.lock().await.clone();
        (!got.is_empty()).then_some(got)
    })
    .await
    .expect("the webhook receives the event after its failures");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "complaint.created");
    assert_eq!(events[0]["complaint"]["id"], ack["complaint_id"]);
    assert_eq!(
        events[0]["complaint"]["tracking_code"],
        ack["tracking_code"]
    );
    assert_eq!(
        receiver.calls.load(Ordering::SeqCst),
        4,
        "three failures, then success"
    );
    assert_eq!(receiver.bad_signatures.load(Ordering::SeqCst), 0);

    // The receiver has the event before the dispatcher reads its answer
    // and records the delivery.
    let d = eventually(Duration::from_secs(10), || async {
        let deliveries: Value = app.api_get("/api/v1/deliveries").await.json().await.ok()?;
        let d = deliveries["items"][0].clone();
        (d["state"] == "delivered").then_some(d)
    })
    .await
    .expect("the delivery is recorded as delivered");
    assert_eq!(d["attempts"], 4);
    assert_eq!(d["sink"], "hook");
    app.stop().await;
    db.drop_db().await;
}
crate::both_backends!(webhook_retries_until_success);

async fn dead_letter_then_replay(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    // Fails more often than the schedule (5 retries) allows: dead after 6 tries.
    let (url, receiver) = start_receiver(6).await;
    let toml = config_toml(&db.url, "", &webhook_sink(&url));
    let env = test_env(&[("T_WEBHOOK_SECRET", WEBHOOK_SECRET)]);
    let app = TestApp::start(&toml, &env).await;
    app.post_sms(
        "sms-rakit",
        &sms_body("d1", "081234567890", "Pohon tumbang"),
    )
    .await;
    let dead = eventually(Duration::from_secs(15), || async {
        let page: Value = app
            .api_get("/api/v1/deliveries?state=dead")
            .await
            .json()
            .await
            .unwrap();
        page["items"].as_array().unwrap().first().cloned()
    })
    .await
    .expect("the delivery is dead after the last retry");
    assert_eq!(dead["attempts"], 6);
    assert!(
        dead["last_error"].as_str().unwrap().contains("503"),
        "{dead}"
    );
    assert!(receiver.accepted.lock().await.is_empty());

    // `salur replay` makes it pending; the running dispatcher sends it.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("salur.toml");
    std::fs::write(&config, &toml).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_salur"))
        .args(["replay", "--config"])
        .arg(&config)
        .env("T_API_TOKEN", crate::support::API_TOKEN)
        .env("T_SMS_SECRET", crate::support::SMS_SECRET)
        .env("T_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 deliveries queued again"), "{stdout}");
    app.app.dispatch_wake.notify_one();
    let got = eventually(Duration::from_secs(15), || async {
        let got = receiver.accepted.lock().await.clone();
        (!got.is_empty()).then_some(got)
    })
    .await
    .expect("replayed delivery arrives");
    assert_eq!(got.len(), 1);
    app.stop().await;
    db.drop_db().await;
}
crate::both_backends!(dead_letter_then_replay);

async fn nats_receives_created_events(backend: Backend) {
    if !crate::support::service_available("NATS", "127.0.0.1:4222").await {
        return;
    }
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let suffix = ulid::Ulid::new().to_string();
    let stream = format!("SALUR_IT_{suffix}");
    let prefix = format!("it{}.complaints", suffix.to_lowercase());
    let extra = format!(
        "[[sinks]]\nkind = \"nats\"\nurl = \"nats://127.0.0.1:4222\"\nstream = \"{stream}\"\nsubject_prefix = \"{prefix}\"\n"
    );
    let app = TestApp::start(&config_toml(&db.url, "", &extra), &test_env(&[])).await;
    let client = async_nats::connect("nats://127.0.0.1:4222").await.unwrap();
    let js = async_nats::jetstream::new(client);

    let mut acks = Vec::new();
    for i in 0..10 {
        let ack = app
            .sms(
                "sms-rakit",
                &sms_body(
                    &format!("n{i}"),
                    &format!("0813555500{i:02}"),
                    &format!("Parkir liar {i}"),
                ),
            )
            .await;
        acks.push(ack);
        if i == 4 {
            // Wait until the first five are in, then delete the stream under the sink.
            let ok = eventually(Duration::from_secs(10), || async {
                let mut s = js.get_stream(&stream).await.ok()?;
                (s.info().await.ok()?.state.messages >= 5).then_some(())
            })
            .await;
            assert!(ok.is_some(), "first events published");
            js.delete_stream(&stream).await.unwrap();
        }
    }
    // Every event after the deletion is in the recreated stream.
    let messages = eventually(Duration::from_secs(15), || async {
        let mut s = js.get_stream(&stream).await.ok()?;
        (s.info().await.ok()?.state.messages >= 5).then_some(s)
    })
    .await
    .expect("stream recreated with the later events");
    let consumer = messages
        .create_consumer(async_nats::jetstream::consumer::pull::Config::default())
        .await
        .unwrap();
    let mut batch = consumer
        .fetch()
        .max_messages(100)
        .expires(Duration::from_secs(2))
        .messages()
        .await
        .unwrap();
    let mut seen = Vec::new();
    while let Some(Ok(m)) = batch.next().await {
        let event: Value = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(
            m.subject.as_str(),
            format!("{prefix}._unrouted.complaint.created")
        );
        let msg_id = m
            .headers
            .as_ref()
            .unwrap()
            .get("Nats-Msg-Id")
            .unwrap()
            .as_str()
            .to_owned();
        assert_eq!(msg_id, event["id"].as_str().unwrap());
        seen.push(event["complaint"]["id"].as_str().unwrap().to_owned());
    }
    for ack in &acks[5..] {
        assert!(
            seen.contains(&ack["complaint_id"].as_str().unwrap().to_owned()),
            "event lost: {ack}"
        );
    }
    // Every delivery ends delivered: nothing dead, nothing lost.
    let all_done = eventually(Duration::from_secs(10), || async {
        let page: Value = app
            .api_get("/api/v1/deliveries?state=delivered")
            .await
            .json()
            .await
            .unwrap();
        (page["items"].as_array().unwrap().len() == 10).then_some(())
    })
    .await;
    assert!(all_done.is_some(), "all 10 deliveries delivered");
    let _ = js.delete_stream(&stream).await;
    app.stop().await;
    db.drop_db().await;
}
crate::both_backends!(nats_receives_created_events);

/// Several dispatchers on one PostgreSQL database share the outbox with
/// `FOR UPDATE SKIP LOCKED`: every event is delivered, none twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_dispatchers_share_the_outbox() {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let (url, receiver) = start_receiver(0).await;
    let toml = config_toml(&db.url, "", &webhook_sink(&url));
    let app = TestApp::start(&toml, &test_env(&[("T_WEBHOOK_SECRET", WEBHOOK_SECRET)])).await;
    // Two more dispatchers, as two more instances would run.
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let mut extra = Vec::new();
    for _ in 0..2 {
        let worker = salur::queue::dispatch::Worker {
            store: app.app.store.clone(),
            settings: salur::queue::dispatch::DispatchSettings {
                retry_schedule: vec![Duration::from_millis(100)],
                poll_interval: Duration::from_millis(20),
                batch_size: 5,
                lease: Duration::from_secs(60),
            },
            wake: Arc::new(tokio::sync::Notify::new()),
            metrics: app.app.metrics.clone(),
        };
        let d = salur::queue::dispatch::Dispatcher::new(worker, app.app.sinks.clone());
        extra.push(tokio::spawn(d.run(stop_rx.clone())));
    }
    for i in 0..60 {
        let r = app
            .http
            .post(format!("{}/api/v1/complaints", app.base))
            .bearer_auth(crate::support::API_TOKEN)
            .json(&serde_json::json!({ "text": format!("Keluhan {i}"), "external_id": format!("x{i}") }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let all = eventually(Duration::from_secs(20), || async {
        let got = receiver.accepted.lock().await.len();
        (got >= 60).then_some(())
    })
    .await;
    assert!(all.is_some(), "all 60 events delivered");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = receiver.accepted.lock().await.clone();
    let ids: std::collections::HashSet<&str> =
        got.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 60);
    assert_eq!(got.len(), 60, "no event delivered twice");
    let _ = stop.send(true);
    for t in extra {
        let _ = t.await;
    }
    app.stop().await;
    db.drop_db().await;
}
