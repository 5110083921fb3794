//! Media downloads and replies against a fake Graph API.
//!
//! The fake is an axum server on `127.0.0.1:0` that follows Meta's
//! documented shapes: `GET /v21.0/{media-id}` answers `{url, mime_type,
//! sha256, file_size, id}` and the URL serves the file to the same bearer
//! token; `POST /v21.0/{phone-number-id}/messages` answers
//! `{"messages":[{"id":"wamid…"}]}` or `{"error":{…}}` with Meta's codes.
//! Every request without the right token is refused with 401 and error 190,
//! as Meta refuses an invalid token.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{TimeDelta, Utc};
use salur_channel_whatsapp::graph::{DEFAULT_TIMEOUT, GraphApi, MediaError, Outgoing, SendError};
use salur_channel_whatsapp::send::{PageSender, Template, WhatsappSender};
use salur_channels_core::{ChannelError, ChannelKind, OutboundReply, ReplyKind, ReplySender};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const TOKEN: &str = "EAAG-test-token";
const NUMBER_ID: &str = "106540352242922";
const PHOTO: &[u8] = b"\xff\xd8\xff\xe0 a small JPEG of a broken street lamp";
const LIMIT: u64 = 1024;

/// Recipients the fake answers by.
const REACHABLE: &str = "6281234567890";
const LAPSED: &str = "6281200131047";
const BUSY: &str = "6281200130429";
const NOT_ON_WHATSAPP: &str = "6281200131026";
const DOWN: &str = "6281200000500";

#[derive(Default)]
struct Fake {
    base: Mutex<String>,
    /// Download attempts of the `expiring` media.
    expiring_downloads: AtomicUsize,
    /// Bodies posted to the messages endpoint.
    sent: Mutex<Vec<Value>>,
}

/// `Some(refusal)` when the bearer token is not ours.
fn unauthorized(headers: &HeaderMap) -> Option<Response> {
    let want = format!("Bearer {TOKEN}");
    if headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(want.as_str()) {
        return None;
    }
    Some((
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": {"message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190, "fbtrace_id": "Ax1"}})),
    )
        .into_response())
}

fn hex_sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn lookup(
    State(fake): State<Arc<Fake>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = unauthorized(&headers) {
        return refused;
    }
    let base = fake.base.lock().expect("base").clone();
    let (url, sha, size) = match id.as_str() {
        "photo" | "expiring" => (
            format!("{base}/files/{id}"),
            hex_sha(PHOTO),
            PHOTO.len() as u64,
        ),
        "wrongsha" => (
            format!("{base}/files/photo"),
            hex_sha(b"other"),
            PHOTO.len() as u64,
        ),
        "huge" => (
            format!("{base}/files/photo"),
            hex_sha(PHOTO),
            50 * 1024 * 1024,
        ),
        // States a small size, then sends more than the limit.
        "liar" => (format!("{base}/files/big"), hex_sha(PHOTO), 10),
        "redirect" => (format!("{base}/files/redirect"), hex_sha(PHOTO), 10),
        "metadata" => (
            "http://169.254.169.254/latest/meta-data".into(),
            hex_sha(PHOTO),
            10,
        ),
        _ => {
            return (
                StatusCode::NOT_FOUND,
                Json(json!({"error": {"message": "Unsupported get request.", "type": "GraphMethodException", "code": 100, "error_subcode": 33}})),
            )
                .into_response();
        }
    };
    Json(json!({
        "messaging_product": "whatsapp",
        "url": url,
        "mime_type": "image/jpeg",
        "sha256": sha,
        "file_size": size,
        "id": id,
    }))
    .into_response()
}

async fn file(
    State(fake): State<Arc<Fake>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = unauthorized(&headers) {
        return refused;
    }
    match name.as_str() {
        "photo" => (StatusCode::OK, PHOTO.to_vec()).into_response(),
        // The first URL handed out has expired (Meta's URLs last 5 minutes).
        "expiring" if fake.expiring_downloads.fetch_add(1, Ordering::SeqCst) == 0 => {
            StatusCode::NOT_FOUND.into_response()
        }
        "expiring" => (StatusCode::OK, PHOTO.to_vec()).into_response(),
        "big" => (StatusCode::OK, vec![b'x'; 4 * LIMIT as usize]).into_response(),
        "redirect" => (
            StatusCode::FOUND,
            [("location", "http://169.254.169.254/latest/meta-data")],
        )
            .into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

fn meta_error(status: StatusCode, code: i64, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"message": message, "type": "OAuthException", "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": message}, "fbtrace_id": "Bx2"}})),
    )
        .into_response()
}

async fn messages(
    State(fake): State<Arc<Fake>>,
    Path(number_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refused) = unauthorized(&headers) {
        return refused;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return meta_error(StatusCode::BAD_REQUEST, 100, "Invalid parameter");
    };
    if number_id != NUMBER_ID || body["messaging_product"] != "whatsapp" {
        return meta_error(StatusCode::BAD_REQUEST, 100, "Invalid parameter");
    }
    fake.sent.lock().expect("sent").push(body.clone());
    let kind = body["type"].as_str().unwrap_or_default();
    match (body["to"].as_str().unwrap_or_default(), kind) {
        (LAPSED, "text") => meta_error(
            StatusCode::BAD_REQUEST,
            131_047,
            "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
        ),
        (BUSY, _) => meta_error(StatusCode::BAD_REQUEST, 130_429, "Rate limit hit"),
        (NOT_ON_WHATSAPP, _) => {
            meta_error(StatusCode::BAD_REQUEST, 131_026, "Message Undeliverable.")
        }
        (DOWN, _) => (StatusCode::INTERNAL_SERVER_ERROR, "upstream connect error").into_response(),
        (to, _) => Json(json!({
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": format!("wamid.{kind}.{to}")}],
        }))
        .into_response(),
    }
}

async fn page_messages(State(fake): State<Arc<Fake>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refused) = unauthorized(&headers) {
        return refused;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return meta_error(StatusCode::BAD_REQUEST, 100, "Invalid parameter");
    };
    fake.sent.lock().expect("sent").push(body.clone());
    match body["recipient"]["id"].as_str().unwrap_or_default() {
        "700999" => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": {"message": "(#10) This message is sent outside of allowed window.",
                "type": "OAuthException", "code": 10, "error_subcode": 2_018_278, "fbtrace_id": "Cx3"}})),
        )
            .into_response(),
        "700551" => meta_error(StatusCode::BAD_REQUEST, 551, "This person isn't available right now."),
        id => Json(json!({"recipient_id": id, "message_id": format!("m_sent_{id}")})).into_response(),
    }
}

async fn start() -> (Arc<Fake>, GraphApi) {
    let fake = Arc::new(Fake::default());
    let router = Router::new()
        .route("/v21.0/{id}", get(lookup))
        .route("/v21.0/{id}/messages", post(messages))
        .route("/v21.0/me/messages", post(page_messages))
        .route("/files/{name}", get(file))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    *fake.base.lock().expect("base") = base.clone();
    let api = GraphApi::new(
        Some(&format!("{base}/v21.0")),
        TOKEN.into(),
        DEFAULT_TIMEOUT,
    )
    .expect("api");
    (fake, api)
}

#[tokio::test]
async fn media_is_fetched_in_two_steps_and_checked() {
    let (_fake, api) = start().await;
    let media = api.fetch_media("photo", None, LIMIT).await.expect("photo");
    assert_eq!(&media.bytes[..], PHOTO);
    assert_eq!(media.sha256, hex_sha(PHOTO));
    assert_eq!(media.mime.as_deref(), Some("image/jpeg"));

    // The webhook's sha256 (base64 there) is checked too.
    let stated = base64_sha(PHOTO);
    assert!(api.fetch_media("photo", Some(&stated), LIMIT).await.is_ok());
    let err = api
        .fetch_media("photo", Some(&base64_sha(b"x")), LIMIT)
        .await
        .expect_err("webhook digest differs");
    assert!(matches!(err, MediaError::Checksum { .. }), "{err}");
}

fn base64_sha(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

#[tokio::test]
async fn an_expired_url_fails_that_try_and_the_next_look_up_works() {
    let (fake, api) = start().await;
    let err = api
        .fetch_media("expiring", None, LIMIT)
        .await
        .expect_err("expired");
    assert!(err.retryable(), "{err}");
    let media = api
        .fetch_media("expiring", None, LIMIT)
        .await
        .expect("fresh URL");
    assert_eq!(&media.bytes[..], PHOTO);
    assert_eq!(fake.expiring_downloads.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn bad_media_is_refused_for_good() {
    let (_fake, api) = start().await;
    type Check = fn(&MediaError) -> bool;
    let cases: [(&str, Check); 6] = [
        ("wrongsha", |e| matches!(e, MediaError::Checksum { .. })),
        ("huge", |e| {
            matches!(
                e,
                MediaError::TooLarge {
                    size: 52_428_800,
                    ..
                }
            )
        }),
        ("liar", |e| matches!(e, MediaError::TooLarge { .. })),
        (
            "metadata",
            |e| matches!(e, MediaError::ForeignHost(h) if h == "169.254.169.254"),
        ),
        ("missing", |e| matches!(e, MediaError::Gone(_))),
        (
            "redirect",
            |e| matches!(e, MediaError::ForeignHost(h) if h == "redirect to 169.254.169.254"),
        ),
    ];
    for (id, expected) in cases {
        let err = api.fetch_media(id, None, LIMIT).await.expect_err(id);
        assert!(expected(&err), "{id}: {err}");
        assert!(!err.retryable(), "{id}: {err}");
    }
    let err = api
        .fetch_media("../files/photo", None, LIMIT)
        .await
        .expect_err("path");
    assert!(matches!(err, MediaError::Gone(_)), "{err}");
}

#[tokio::test]
async fn a_wrong_token_is_refused() {
    let (fake, _) = start().await;
    let base = format!("{}/v21.0", fake.base.lock().expect("base"));
    let wrong = GraphApi::new(Some(&base), "stale".into(), DEFAULT_TIMEOUT).expect("api");
    let err = wrong
        .fetch_media("photo", None, LIMIT)
        .await
        .expect_err("401");
    assert!(
        err.retryable(),
        "a look-up refused now may work with a renewed token: {err}"
    );
    let err = wrong
        .send(NUMBER_ID, REACHABLE, &Outgoing::Text("halo"))
        .await
        .expect_err("401");
    assert_eq!(
        err,
        SendError::Permanent {
            code: 190,
            detail: "Invalid OAuth access token.".into()
        }
    );
}

fn reply(to: &str, last_inbound: Option<TimeDelta>) -> OutboundReply {
    OutboundReply {
        channel_name: "wa-test".into(),
        to: format!("whatsapp:{to}"),
        text: "Aduan Anda kami terima. Kode pelacakan: SLR-7K3Q-9XPA".into(),
        in_reply_to: None,
        tracking_code: Some("SLR-7K3Q-9XPA".into()),
        kind: ReplyKind::Acknowledgement,
        last_inbound_at: last_inbound.map(|ago| Utc::now() - ago),
        window_closed: false,
        presentation: Default::default(),
    }
}

fn template() -> Option<Template> {
    Some(Template {
        name: "aduan_diterima".into(),
        language: "id".into(),
    })
}

#[tokio::test]
async fn replies_use_free_text_in_the_window_and_the_template_outside() {
    let (fake, api) = start().await;
    let sender = WhatsappSender::new(api, NUMBER_ID.into(), template());

    let sent = sender
        .send(&reply(REACHABLE, Some(TimeDelta::hours(2))))
        .await
        .expect("text");
    assert_eq!(
        sent.provider_message_id.as_deref(),
        Some("wamid.text.6281234567890")
    );

    let sent = sender
        .send(&reply(REACHABLE, Some(TimeDelta::hours(30))))
        .await
        .expect("template");
    assert_eq!(
        sent.provider_message_id.as_deref(),
        Some("wamid.template.6281234567890")
    );

    // Unknown last message: free text first; Meta's 131047 turns it into
    // the template.
    let sent = sender.send(&reply(LAPSED, None)).await.expect("fallback");
    assert_eq!(
        sent.provider_message_id.as_deref(),
        Some("wamid.template.6281200131047")
    );

    let bodies = fake.sent.lock().expect("sent").clone();
    assert_eq!(bodies.len(), 4);
    assert_eq!(
        bodies[0],
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": REACHABLE,
            "type": "text", "text": {"preview_url": false, "body": "Aduan Anda kami terima. Kode pelacakan: SLR-7K3Q-9XPA"}})
    );
    let template_body = json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": REACHABLE,
        "type": "template", "template": {"name": "aduan_diterima", "language": {"code": "id"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "SLR-7K3Q-9XPA"}]}]}});
    assert_eq!(bodies[1], template_body);
    assert_eq!(bodies[2]["type"], "text");
    assert_eq!(bodies[3]["type"], "template");
    assert_eq!(bodies[3]["to"], LAPSED);
}

#[tokio::test]
async fn send_errors_are_sorted_by_what_can_be_done() {
    let (_fake, api) = start().await;
    let sender = WhatsappSender::new(api.clone(), NUMBER_ID.into(), None);

    let err = sender
        .send(&reply(BUSY, None))
        .await
        .expect_err("rate limit");
    assert!(
        matches!(err, ChannelError::Transient(ref m) if m.contains("130429")),
        "{err}"
    );
    let err = sender
        .send(&reply(DOWN, None))
        .await
        .expect_err("server error");
    assert!(matches!(err, ChannelError::Transient(_)), "{err}");
    let err = sender
        .send(&reply(NOT_ON_WHATSAPP, None))
        .await
        .expect_err("undeliverable");
    assert!(
        matches!(err, ChannelError::Permanent(ref m) if m.contains("131026")),
        "{err}"
    );
    let err = sender
        .send(&reply(LAPSED, None))
        .await
        .expect_err("no template");
    assert!(
        matches!(err, ChannelError::Permanent(ref m) if m.contains("no template")),
        "{err}"
    );
    let mut other = reply(REACHABLE, None);
    other.to = "sms:+6281234567890".into();
    let err = sender.send(&other).await.expect_err("handle");
    assert!(matches!(err, ChannelError::Permanent(_)), "{err}");

    assert_eq!(
        api.send(NUMBER_ID, LAPSED, &Outgoing::Text("x")).await,
        Err(SendError::OutsideWindow)
    );
    let err = api
        .send("../../me", REACHABLE, &Outgoing::Text("x"))
        .await
        .expect_err("not a number id");
    assert!(!err.retryable(), "{err}");
}

#[tokio::test]
async fn messenger_and_instagram_replies_go_through_the_page_within_the_window() {
    let (fake, api) = start().await;
    let messenger = PageSender::new(api.clone(), ChannelKind::Messenger);
    let mut to_user = reply("0", Some(TimeDelta::hours(1)));
    to_user.to = "messenger:700123".into();
    let sent = messenger.send(&to_user).await.expect("sent");
    assert_eq!(sent.provider_message_id.as_deref(), Some("m_sent_700123"));
    assert_eq!(
        fake.sent.lock().expect("sent")[0],
        json!({"recipient": {"id": "700123"}, "messaging_type": "RESPONSE",
            "message": {"text": "Aduan Anda kami terima. Kode pelacakan: SLR-7K3Q-9XPA"}})
    );

    for (to, why) in [("messenger:700999", "24-hour"), ("messenger:700551", "551")] {
        let mut r = reply("0", None);
        r.to = to.into();
        let err = messenger.send(&r).await.expect_err(to);
        assert!(
            matches!(err, ChannelError::Permanent(ref m) if m.contains(why)),
            "{to}: {err}"
        );
    }
    let calls = fake.sent.lock().expect("sent").len();
    let mut late = reply("0", Some(TimeDelta::hours(30)));
    late.to = "messenger:700123".into();
    let err = messenger.send(&late).await.expect_err("outside the window");
    assert!(matches!(err, ChannelError::Permanent(_)), "{err}");
    let mut other = reply("0", None);
    other.to = "instagram:700123".into();
    assert!(
        messenger.send(&other).await.is_err(),
        "an Instagram handle on Messenger"
    );
    assert_eq!(
        fake.sent.lock().expect("sent").len(),
        calls,
        "neither was sent"
    );

    let instagram = PageSender::new(api, ChannelKind::Instagram);
    let sent = instagram.send(&other).await.expect("instagram");
    assert_eq!(sent.provider_message_id.as_deref(), Some("m_sent_700123"));
}
