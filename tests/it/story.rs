//! The storage story, run on SQLite and on PostgreSQL: a citizen's SMS
//! fragments become one complaint, replays create nothing, a repeat becomes
//! a duplicate, and the API shows, filters and pages it all.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::{Value, json};

use crate::both_backends;
use crate::support::{Backend, Counts, TestApp, eventually, sms_body};

/// Quiet period short enough for a test; the sealer looks every 100 ms.
const FAST: &str = "quiet_period = \"1s\"\nseal_interval = \"100ms\"";

async fn fragments_join_then_seal(backend: Backend) {
    let Some((app, db)) = TestApp::on(backend, FAST, "").await else {
        return;
    };

    // Three fragments from one number, written three ways.
    let first = app
        .sms(
            "sms-utama",
            &sms_body("m1", "0812-3456-7890", "Pak, jalan depan rumah saya rusak"),
        )
        .await;
    let code = first["tracking_code"].as_str().unwrap().to_owned();
    assert!(code.starts_with("SLR-"), "{first}");
    let second = app
        .sms(
            "sms-utama",
            &sms_body("m2", "6281234567890", "di Jl. Merdeka no 5"),
        )
        .await;
    assert_eq!(
        second["tracking_code"], first["tracking_code"],
        "fragments join one complaint"
    );
    let third = app
        .sms(
            "sms-utama",
            &sms_body("m3", "+62 812 3456 7890", "sudah 2 bulan"),
        )
        .await;
    assert_eq!(third["complaint_id"], first["complaint_id"]);

    let id = first["complaint_id"].as_str().unwrap().to_owned();
    let open = app.complaint(&id).await;
    assert_eq!(open["sealed"], false);
    assert_eq!(
        open["body"],
        "Pak, jalan depan rumah saya rusak\ndi Jl. Merdeka no 5\nsudah 2 bulan"
    );
    assert_eq!(open["reporter"]["phone"], "+6281234567890");
    assert_eq!(open["reporter"]["handle"], "sms:+6281234567890");
    assert_eq!(open["message_ids"].as_array().unwrap().len(), 3);
    assert_eq!(open["channel"], "sms");
    assert_eq!(open["channel_name"], "sms-utama");
    assert_eq!(open["status"], "new");

    // A replay answers the same and creates nothing.
    let before = app.counts().await;
    let r = app
        .post_sms(
            "sms-utama",
            &sms_body("m2", "6281234567890", "di Jl. Merdeka no 5"),
        )
        .await;
    assert_eq!(r.status(), 200);
    let replay: Value = r.json().await.unwrap();
    assert_eq!(replay["status"], "duplicate");
    assert_eq!(replay["tracking_code"], first["tracking_code"]);
    assert_eq!(replay["message_id"], second["message_id"]);
    assert_eq!(app.counts().await, before);

    // After the quiet period the sealer seals it and publishes complaint.created.
    let sealed = eventually(Duration::from_secs(10), || async {
        let c = app.complaint(&id).await;
        (c["sealed"] == true).then_some(c)
    })
    .await
    .expect("sealed after the quiet period");
    assert_eq!(sealed["status"], "new");
    let counts = app.counts().await;
    assert_eq!(counts.events, 1, "one complaint.created");

    // The tracking code finds it too.
    let by_code = app.complaint(&code).await;
    assert_eq!(by_code["id"], sealed["id"]);

    // A new message after the seal opens a new complaint.
    let fourth = app
        .sms(
            "sms-utama",
            &sms_body("m4", "081234567890", "lampu jalan mati"),
        )
        .await;
    assert_ne!(fourth["complaint_id"], first["complaint_id"]);
    assert_eq!(app.counts().await.complaints, 2);

    app.stop().await;
    db.drop_db().await;
}
both_backends!(fragments_join_then_seal);

async fn same_reporter_same_content_is_tier_two(backend: Backend) {
    let Some((app, db)) = TestApp::on(backend, FAST, "").await else {
        return;
    };

    // `sms-rakit` seals each SMS at once (assemble = false).
    let a = app
        .sms(
            "sms-rakit",
            &sms_body("a1", "081298765432", "Sampah di pasar tidak diangkut!"),
        )
        .await;
    assert_eq!(a["status"], "accepted");
    // Same person, other number format, same words in other case and spacing.
    let b = app
        .sms(
            "sms-rakit",
            &sms_body("a2", "+6281298765432", "sampah  di pasar TIDAK diangkut"),
        )
        .await;
    assert_ne!(b["complaint_id"], a["complaint_id"], "a new record is kept");
    assert_eq!(
        b["tracking_code"], a["tracking_code"],
        "the citizen gets the first code"
    );
    let dup = app.complaint(b["complaint_id"].as_str().unwrap()).await;
    assert_eq!(dup["status"], "duplicate");
    assert_eq!(dup["duplicate_of"], a["complaint_id"]);

    // Another reporter with the same words is not a tier-2 duplicate.
    let c = app
        .sms(
            "sms-rakit",
            &sms_body("a3", "081311112222", "Sampah di pasar tidak diangkut!"),
        )
        .await;
    let other = app.complaint(c["complaint_id"].as_str().unwrap()).await;
    assert_eq!(other["status"], "new");
    assert!(other["duplicate_of"].is_null());

    // A reporter linked by phone through the API is the same reporter.
    let r = app
        .http
        .post(format!("{}/api/v1/complaints", app.base))
        .bearer_auth(crate::support::API_TOKEN)
        .json(&json!({ "text": "Sampah di pasar tidak diangkut", "reporter": { "phone": "0812 9876 5432" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let manual: Value = r.json().await.unwrap();
    assert_eq!(manual["status"], "duplicate");
    assert_eq!(manual["duplicate_of"], a["complaint_id"]);
    assert_eq!(manual["channel"], "manual");

    app.stop().await;
    db.drop_db().await;
}
both_backends!(same_reporter_same_content_is_tier_two);

async fn api_lists_filters_and_pages(backend: Backend) {
    let Some((app, db)) = TestApp::on(backend, FAST, "").await else {
        return;
    };
    for i in 0..7 {
        app.sms(
            "sms-rakit",
            &sms_body(
                &format!("p{i}"),
                &format!("08131111{i:04}"),
                &format!("keluhan nomor {i}"),
            ),
        )
        .await;
    }
    // Cursor pagination: 3 + 3 + 1, newest first, no overlap.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/complaints?limit=3&cursor={c}"),
            None => "/api/v1/complaints?limit=3".to_owned(),
        };
        let page: Value = app.api_get(&path).await.json().await.unwrap();
        for item in page["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(seen, sorted, "newest first");

    // Filters.
    let page: Value = app
        .api_get("/api/v1/complaints?status=duplicate")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 0);
    let page: Value = app
        .api_get("/api/v1/complaints?channel=sms-rakit&agency=_unrouted")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 7);
    let page: Value = app
        .api_get("/api/v1/complaints?channel=sms-utama")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 0);
    let one = &app
        .api_get("/api/v1/complaints?limit=1")
        .await
        .json::<Value>()
        .await
        .unwrap()["items"][0];
    let code = one["tracking_code"]
        .as_str()
        .unwrap()
        .to_lowercase()
        .replace('-', " ");
    let page: Value = app
        .api_get(&format!(
            "/api/v1/complaints?tracking_code={}",
            code.replace(' ', "%20")
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        page["items"][0]["id"], one["id"],
        "tracking codes are read leniently"
    );

    // Bad queries are 400 with a message; no token is 401.
    let r = app.api_get("/api/v1/complaints?status=bogus").await;
    assert_eq!(r.status(), 400);
    let r = app.api_get("/api/v1/complaints?limit=0").await;
    assert_eq!(r.status(), 400);
    let r = app.api_get("/api/v1/complaints?cursor=nope").await;
    assert_eq!(r.status(), 400);
    let r = app
        .http
        .get(format!("{}/api/v1/complaints", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .http
        .get(format!("{}/api/v1/complaints", app.base))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .api_get("/api/v1/complaints/cmp_01JD0000000000000000000000")
        .await;
    assert_eq!(r.status(), 404);

    app.stop().await;
    db.drop_db().await;
}
both_backends!(api_lists_filters_and_pages);

async fn api_create_is_idempotent(backend: Backend) {
    let Some((app, db)) = TestApp::on(backend, FAST, "").await else {
        return;
    };
    let body = json!({
        "text": "Pungutan liar saat mengurus KTP di kantor desa",
        "title": "Pungli KTP",
        "external_id": "callcenter-991",
        "reporter": { "name": "Siti", "email": "Siti@Example.ID" },
        "anonymous": true,
        "confidential": true,
        "classification": "complaint",
        "location": { "lat": -6.9, "lon": 107.6, "address": "Desa Sukamaju" }
    });
    let post = || {
        app.http
            .post(format!("{}/api/v1/complaints", app.base))
            .bearer_auth(crate::support::API_TOKEN)
            .json(&body)
            .send()
    };
    let r = post().await.unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["title"], "Pungli KTP");
    assert_eq!(created["anonymous"], true);
    assert_eq!(created["confidential"], true);
    assert_eq!(created["reporter"]["email"], "siti@example.id");
    assert_eq!(created["location"]["address"], "Desa Sukamaju");
    assert_eq!(created["sealed"], true);
    let r = post().await.unwrap();
    assert_eq!(r.status(), 200, "a repeat returns the first");
    let again: Value = r.json().await.unwrap();
    assert_eq!(again["id"], created["id"]);
    assert_eq!(app.counts().await.complaints, 1);
    let counts: Counts = app.counts().await;
    assert_eq!(
        counts.events, 1,
        "created publishes complaint.created at once"
    );

    // Invalid bodies are 422 with a message and store nothing.
    for bad in [
        json!({ "text": "" }),
        json!({ "text": "x", "reporter": { "phone": "12" } }),
        json!({ "text": "x", "channel": "fax" }),
        json!({ "text": "x", "surprise": 1 }),
        json!({ "text": "x", "location": { "lat": 100.0, "lon": 0.0 } }),
    ] {
        let r = app
            .http
            .post(format!("{}/api/v1/complaints", app.base))
            .bearer_auth(crate::support::API_TOKEN)
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{bad}");
        let e: Value = r.json().await.unwrap();
        assert!(e["error"]["message"].as_str().unwrap().len() > 5);
    }
    assert_eq!(app.counts().await.complaints, 1);
    app.stop().await;
    db.drop_db().await;
}
both_backends!(api_create_is_idempotent);
