//! Bad input gets a clear 4xx and stores nothing.

#![allow(clippy::unwrap_used)]

use serde_json::Value;

use crate::both_backends;
use crate::support::{Backend, Counts, TestApp, sign, sms_body};

async fn refused(
    app: &TestApp,
    path: &str,
    signature: Option<&str>,
    body: String,
) -> (u16, String) {
    let mut req = app
        .http
        .post(format!("{}{path}", app.base))
        .header("content-type", "application/json")
        .body(body);
    if let Some(s) = signature {
        req = req.header("x-salur-signature", s);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or_default();
    (
        status,
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

async fn bad_input_is_refused_and_stores_nothing(backend: Backend) {
    let Some((app, db)) = TestApp::on(backend, "", "").await else {
        return;
    };
    let good = sms_body("x1", "081234567890", "Jembatan putus");
    let path = "/webhooks/sms/sms-utama";

    let cases: Vec<(&str, Option<String>, String, u16, &str)> = vec![
        (
            "wrong signature",
            Some(sign("other body")),
            good.clone(),
            401,
            "invalid signature",
        ),
        (
            "signature by another key",
            Some(format!(
                "sha256={}",
                salur_channel_sms::signature::hmac_sha256_hex(b"nope", good.as_bytes())
            )),
            good.clone(),
            401,
            "invalid signature",
        ),
        ("no signature", None, good.clone(), 401, "missing signature"),
        (
            "garbage signature",
            Some("sha256=zzzz".into()),
            good.clone(),
            401,
            "invalid signature",
        ),
        (
            "malformed JSON",
            Some(sign("{\"id\": \"x1\", ")),
            "{\"id\": \"x1\", ".into(),
            400,
            "malformed payload",
        ),
        (
            "not an object",
            Some(sign("[1,2]")),
            "[1,2]".into(),
            400,
            "malformed payload",
        ),
        (
            "empty body",
            Some(sign("")),
            String::new(),
            400,
            "empty body",
        ),
        (
            "missing text",
            Some(sign(r#"{"id":"x2","from":"0812"}"#)),
            r#"{"id":"x2","from":"0812"}"#.into(),
            422,
            "missing field `text`",
        ),
        (
            "missing id",
            Some(sign(r#"{"from":"0812","text":"a"}"#)),
            r#"{"from":"0812","text":"a"}"#.into(),
            422,
            "missing field `id`",
        ),
        (
            "missing from",
            Some(sign(r#"{"id":"x3","text":"a"}"#)),
            r#"{"id":"x3","text":"a"}"#.into(),
            422,
            "missing field `from`",
        ),
        (
            "bad time",
            Some(sign(
                r#"{"id":"x4","from":"0812","text":"a","received_at":"kemarin"}"#,
            )),
            r#"{"id":"x4","from":"0812","text":"a","received_at":"kemarin"}"#.into(),
            422,
            "received_at",
        ),
    ];
    for (what, signature, body, status, message) in cases {
        let (got, msg) = refused(&app, path, signature.as_deref(), body).await;
        assert_eq!(got, status, "{what}: {msg}");
        assert!(
            msg.contains(message),
            "{what}: message `{msg}` should mention `{message}`"
        );
    }

    // Oversized: the test config allows 64 KiB.
    let big = sms_body("x5", "081234567890", &"a".repeat(70_000));
    let (got, msg) = refused(&app, path, Some(&sign(&big)), big).await;
    assert_eq!(got, 413, "{msg}");
    assert!(msg.contains("larger than 65536"), "{msg}");

    // Unknown channel name, and a known name under another kind's path.
    let (got, msg) = refused(
        &app,
        "/webhooks/sms/tidak-ada",
        Some(&sign(&good)),
        good.clone(),
    )
    .await;
    assert_eq!(got, 404);
    assert!(msg.contains("tidak-ada"), "{msg}");

    assert_eq!(app.counts().await, Counts::default(), "nothing stored");

    // The good one still goes through afterwards.
    let r = app.post_sms("sms-utama", &good).await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.counts().await.messages, 1);
    app.stop().await;
    db.drop_db().await;
}
both_backends!(bad_input_is_refused_and_stores_nothing);
