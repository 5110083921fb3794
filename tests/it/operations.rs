//! Operations: `salur reprocess` rebuilds complaints from their raw
//! messages, `/metrics` and `/readyz` report what happened.

#![allow(clippy::unwrap_used)]

use salur::store::{Op, Result as StoreResult, Tx};
use serde_json::Value;

use crate::support::{Backend, TestApp, sms_body};

/// Overwrites a complaint's body, as an older normaliser might have left it.
struct Tamper(String);

impl Op for Tamper {
    type Output = ();

    async fn run<C: Tx>(&mut self, c: &mut C) -> StoreResult<()> {
        let mut row = c.complaint(&self.0).await?.unwrap();
        row.body = "JALAN   RUSAK (old normaliser)".into();
        c.update_complaint_content(&row, chrono::Utc::now()).await?;
        Ok(())
    }
}

async fn reprocess_rebuilds_from_raw(backend: Backend) {
    let Some((app, db)) = TestApp::on(backend, "", "").await else {
        return;
    };
    let ack = app
        .sms(
            "sms-rakit",
            &sms_body(
                "r1",
                "081234567890",
                "  Jalan   rusak\r\ndi  desa Sukamaju  ",
            ),
        )
        .await;
    let id = ack["complaint_id"].as_str().unwrap().to_owned();
    app.app.store.write(Tamper(id.clone())).await.unwrap();
    let events_before = app.counts().await.events;

    let summary = salur::reprocess::run(&app.app, None, true).await.unwrap();
    assert_eq!(
        (summary.checked, summary.changed),
        (1, 1),
        "dry run sees the change"
    );
    let c = app.complaint(&id).await;
    assert_eq!(
        c["body"], "JALAN   RUSAK (old normaliser)",
        "dry run writes nothing"
    );

    let summary = salur::reprocess::run(&app.app, Some(id.clone()), false)
        .await
        .unwrap();
    assert_eq!(summary.changed, 1);
    let c = app.complaint(&id).await;
    assert_eq!(
        c["body"], "Jalan rusak\ndi desa Sukamaju",
        "rebuilt from the stored raw payload"
    );
    assert_eq!(
        app.counts().await.events,
        events_before + 1,
        "complaint.updated published"
    );

    let summary = salur::reprocess::run(&app.app, None, false).await.unwrap();
    assert_eq!(summary.changed, 0, "nothing left to change");
    app.stop().await;
    db.drop_db().await;
}
crate::both_backends!(reprocess_rebuilds_from_raw);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_readiness_report() {
    let Some((app, db)) = TestApp::on(Backend::Sqlite, "", "").await else {
        return;
    };
    app.sms(
        "sms-rakit",
        &sms_body("q1", "081234567890", "Sampah menumpuk"),
    )
    .await;
    app.post_sms(
        "sms-rakit",
        &sms_body("q1", "081234567890", "Sampah menumpuk"),
    )
    .await;
    let r = app
        .http
        .post(format!("{}/webhooks/sms/sms-rakit", app.base))
        .header("x-salur-signature", "sha256=00")
        .body(sms_body("q2", "081234567890", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let text = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        r#"salur_intake_messages_total{channel="sms-rakit",result="stored"} 1"#,
        r#"salur_intake_messages_total{channel="sms-rakit",result="replay"} 1"#,
        r#"salur_intake_messages_total{channel="sms-rakit",result="unauthorized"} 1"#,
        r#"salur_duplicates_total{tier="1"} 1"#,
        "salur_outbox_pending 0",
        "salur_outbox_lag_seconds 0",
    ] {
        assert!(text.contains(line), "missing `{line}` in\n{text}");
    }
    let ready: Value = app
        .http
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["database"], "ok");
    let r = app
        .http
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.stop().await;
    db.drop_db().await;
}
