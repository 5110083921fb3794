//! 50 concurrent deliveries of one provider message: one row, one complaint,
//! fifty 2xx. On both backends.

#![allow(clippy::unwrap_used)]

use crate::both_backends;
use crate::support::{Backend, TestApp, sms_body};

async fn fifty_concurrent_copies_store_once(backend: Backend) {
    let Some((app, db)) = TestApp::on(backend, "", "").await else {
        return;
    };
    for channel in ["sms-utama", "sms-rakit"] {
        let body = sms_body(
            "same-1",
            "081234567890",
            "Air PDAM tidak mengalir tiga hari",
        );
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let http = app.http.clone();
            let url = format!("{}/webhooks/sms/{channel}", app.base);
            let body = body.clone();
            tasks.push(tokio::spawn(async move {
                http.post(url)
                    .header("x-salur-signature", crate::support::sign(&body))
                    .body(body)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }));
        }
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        assert!(
            statuses.iter().all(|s| (200..300).contains(s)),
            "{channel}: {statuses:?}"
        );
    }
    let counts = crate::support::eventually(std::time::Duration::from_secs(10), || async {
        let c = app.counts().await;
        (c.complaints >= 2).then_some(c)
    })
    .await
    .expect("processed");
    assert_eq!(counts.messages, 2, "one inbound row per channel instance");
    assert_eq!(counts.complaints, 2, "one complaint per channel instance");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(app.counts().await.complaints, 2, "and no more later");
    app.stop().await;
    db.drop_db().await;
}
both_backends!(fifty_concurrent_copies_store_once);
