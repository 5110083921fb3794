//! Replies, long polling, webhooks and file downloads against a fake Bot API.
//!
//! The fake is an axum server on `127.0.0.1:0` that follows the Bot API's
//! documented shapes: `POST /bot{token}/{method}` (method names are
//! case-insensitive, as Telegram's are) answers `{"ok":true,"result":…}` or
//! `{"ok":false,"error_code":…,"description":…,"parameters":{"retry_after":N}}`,
//! and `GET /file/bot{token}/{file_path}` serves files. A wrong token gets
//! 401 `Unauthorized`, as from Telegram. Who a message is for, or which file
//! is asked for, picks the fake's answer.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use salur_channel_telegram::api::HOSTED_FILE_LIMIT;
use salur_channel_telegram::{
    ApiError, BotApi, Parsed, TelegramMedia, TelegramSender, parse_update,
};
use salur_channels_core::media::{MediaError, MediaSource};
use salur_channels_core::{
    Buttons, ChannelError, Choice, Key, KeyRequest, OutboundReply, Presentation, ReplyKind,
    ReplySender,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const TOKEN: &str = "7000000001:AAH-fake_Token-for-tests";
const LIMIT: u64 = 1024;
const PHOTO: &[u8] = b"\xff\xd8\xff\xe0\x00\x10JFIF a small JPEG of a broken street lamp";
const VOICE: &[u8] = b"OggS\x00\x02 a short voice note about a flooded road";

/// Chats the fake answers by.
const SITI: i64 = 5_512_345_678;
const FLOODED: i64 = 5_500_000_429;
const BLOCKED: i64 = 5_500_000_403;
const UNKNOWN_CHAT: i64 = 5_500_000_400;

/// Two updates as Telegram might write them: odd spacing and an escaped
/// character, which must survive byte for byte.
const UPDATE_A: &str = r#"{"update_id":880000101,
 "message":{"message_id":301,"from":{"id":5512345678,"is_bot":false,"first_name":"Siti","language_code":"id"},"chat":{"id":5512345678,"first_name":"Siti","type":"private"},"date":1764400000,"text":"Jalan \u0072usak  di depan pasar"}}"#;
const UPDATE_B: &str = r#"{ "update_id" : 880000102, "callback_query" : {"id":"2367591234567890123","from":{"id":5512345678,"is_bot":false,"first_name":"Siti"},"chat_instance":"-4818277731020340719","data":"cat:jalan"} }"#;

#[derive(Default)]
struct Fake {
    /// Every call: the method (lower case) and its parameters (JSON, or
    /// the raw multipart text).
    calls: Mutex<Vec<(String, Value)>>,
    next_id: AtomicI32,
}

impl Fake {
    fn calls(&self) -> Vec<(String, Value)> {
        self.calls.lock().expect("calls").clone()
    }

    fn methods(&self) -> Vec<String> {
        self.calls().into_iter().map(|(m, _)| m).collect()
    }

    fn last(&self, method: &str) -> Value {
        self.calls()
            .into_iter()
            .rev()
            .find(|(m, _)| m == method)
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no {method} call"))
    }
}

fn ok(result: Value) -> Response {
    Json(json!({"ok": true, "result": result})).into_response()
}

fn refuse(code: u16, description: &str, retry_after: Option<u64>) -> Response {
    let mut body = json!({"ok": false, "error_code": code, "description": description});
    if let Some(wait) = retry_after {
        body["parameters"] = json!({ "retry_after": wait });
    }
    let status = StatusCode::from_u16(code).expect("status");
    (status, Json(body)).into_response()
}

/// A message as the Bot API returns one we sent.
fn sent(chat: i64, message_id: i32, text: &str, edited: bool) -> Value {
    let mut m = json!({
        "message_id": message_id,
        "from": {"id": 7_000_000_001_i64, "is_bot": true, "first_name": "Salur Aduan", "username": "salur_bot"},
        "chat": {"id": chat, "first_name": "Siti", "type": "private"},
        "date": 1_764_400_130,
        "text": text,
    });
    if edited {
        m["edit_date"] = json!(1_764_400_200);
    }
    m
}

async fn method(
    State(fake): State<Arc<Fake>>,
    Path((bot, method)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if bot != format!("bot{TOKEN}") {
        return refuse(401, "Unauthorized", None);
    }
    let method = method.to_ascii_lowercase();
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let params = if is_json {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    } else {
        Value::String(String::from_utf8_lossy(&body).into_owned())
    };
    fake.calls
        .lock()
        .expect("calls")
        .push((method.clone(), params.clone()));
    match method.as_str() {
        "getupdates" => get_updates(&params).await,
        "sendmessage" => {
            let chat = params["chat_id"].as_i64().unwrap_or_default();
            match chat {
                FLOODED => refuse(429, "Too Many Requests: retry after 7", Some(7)),
                BLOCKED => refuse(403, "Forbidden: bot was blocked by the user", None),
                UNKNOWN_CHAT => refuse(400, "Bad Request: chat not found", None),
                _ => {
                    let id = 500 + fake.next_id.fetch_add(1, Ordering::SeqCst);
                    ok(sent(
                        chat,
                        id,
                        params["text"].as_str().unwrap_or_default(),
                        false,
                    ))
                }
            }
        }
        "editmessagetext" => {
            let chat = params["chat_id"].as_i64().unwrap_or_default();
            match params["message_id"].as_i64().unwrap_or_default() {
                206 => ok(sent(
                    chat,
                    206,
                    params["text"].as_str().unwrap_or_default(),
                    true,
                )),
                207 => refuse(
                    400,
                    "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
                    None,
                ),
                _ => refuse(400, "Bad Request: message to edit not found", None),
            }
        }
        "answercallbackquery" => match params["callback_query_id"].as_str() {
            Some("expired") => refuse(
                400,
                "Bad Request: query is too old and response timeout expired or query id is invalid",
                None,
            ),
            _ => ok(json!(true)),
        },
        "setwebhook" => Json(json!({"ok": true, "result": true, "description": "Webhook was set"}))
            .into_response(),
        "deletewebhook" => {
            Json(json!({"ok": true, "result": true, "description": "Webhook was deleted"}))
                .into_response()
        }
        "getfile" => get_file(params["file_id"].as_str().unwrap_or_default()),
        _ => refuse(404, "Not Found: method not found", None),
    }
}

async fn get_updates(params: &Value) -> Response {
    match params["offset"].as_i64() {
        Some(409) => refuse(
            409,
            "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
            None,
        ),
        Some(429) => refuse(429, "Too Many Requests: retry after 3", Some(3)),
        Some(502) => (
            StatusCode::BAD_GATEWAY,
            "<html><head><title>502 Bad Gateway</title></head></html>",
        )
            .into_response(),
        // Nothing new: wait the whole long-poll timeout, as Telegram does.
        Some(777) => {
            let wait = params["timeout"].as_u64().unwrap_or_default();
            tokio::time::sleep(Duration::from_secs(wait)).await;
            ok(json!([]))
        }
        _ => {
            let body = format!(
                "{{\"ok\":true,\"result\":[{UPDATE_A} ,\n  {UPDATE_B},{{\"not_an_update\":true}}]}}"
            );
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
    }
}

fn get_file(file_id: &str) -> Response {
    let file = |size: Option<u64>, path: &str| {
        let mut f =
            json!({"file_id": file_id, "file_unique_id": "AQADx7sxG4kOgVZ4", "file_path": path});
        if let Some(size) = size {
            f["file_size"] = json!(size);
        }
        ok(f)
    };
    match file_id {
        "photo_ok" => file(Some(PHOTO.len() as u64), "photos/file_7.jpg"),
        "voice_nosize" => file(None, "voice/file_3.oga"),
        "huge" => file(Some(50 * 1024 * 1024), "documents/file_9.pdf"),
        // States a small size, then sends more than the limit.
        "liar" => file(Some(10), "documents/file_10.pdf"),
        // The same, streamed without a Content-Length.
        "streamed" => file(Some(10), "documents/file_11.pdf"),
        "escape" => file(Some(10), "../../../etc/passwd"),
        "too_big" => refuse(400, "Bad Request: file is too big", None),
        _ => refuse(400, "Bad Request: invalid file_id", None),
    }
}

async fn file(Path((bot, path)): Path<(String, String)>) -> Response {
    if bot != format!("bot{TOKEN}") {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match path.as_str() {
        "photos/file_7.jpg" => PHOTO.to_vec().into_response(),
        "voice/file_3.oga" => VOICE.to_vec().into_response(),
        "documents/file_10.pdf" => vec![b'%'; 4 * LIMIT as usize].into_response(),
        "documents/file_11.pdf" => {
            let chunks = (0..8).map(|_| Ok::<_, std::io::Error>(vec![b'%'; 512]));
            Body::from_stream(futures_util::stream::iter(chunks)).into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn start() -> (Arc<Fake>, BotApi, String) {
    let fake = Arc::new(Fake::default());
    let router = Router::new()
        .route("/{bot}/{method}", post(method))
        .route("/file/{bot}/{*path}", get(file))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    let api = BotApi::new(TOKEN.into(), Some(&base), Duration::from_secs(5)).expect("api");
    (fake, api, base)
}

fn reply(chat: i64, presentation: Presentation) -> OutboundReply {
    OutboundReply {
        channel_name: "tg-test".into(),
        to: format!("telegram:{chat}"),
        text: "Pilih kategori aduan Anda:".into(),
        in_reply_to: None,
        tracking_code: None,
        kind: ReplyKind::Prompt,
        last_inbound_at: None,
        window_closed: false,
        presentation,
    }
}

fn choice(label: &str, data: &str) -> Choice {
    Choice {
        label: label.into(),
        data: data.into(),
    }
}

fn inline_buttons() -> Buttons {
    Buttons::Inline {
        rows: vec![vec![
            choice("Infrastruktur", "cat:infra"),
            choice("Kebersihan", "cat:bersih"),
        ]],
    }
}

fn with_buttons(buttons: Buttons) -> Presentation {
    Presentation {
        buttons: Some(buttons),
        ..Default::default()
    }
}

#[tokio::test]
async fn replies_carry_each_kind_of_button() {
    let (fake, api, _) = start().await;
    let sender = TelegramSender::new(api);

    let receipt = sender
        .send(&reply(SITI, Presentation::default()))
        .await
        .expect("plain");
    assert_eq!(
        receipt.provider_message_id.as_deref(),
        Some("5512345678:500")
    );
    let body = fake.last("sendmessage");
    assert_eq!(
        body,
        json!({"chat_id": SITI, "text": "Pilih kategori aduan Anda:"})
    );

    sender
        .send(&reply(SITI, with_buttons(inline_buttons())))
        .await
        .expect("inline");
    assert_eq!(
        fake.last("sendmessage")["reply_markup"],
        json!({"inline_keyboard": [[
            {"text": "Infrastruktur", "callback_data": "cat:infra"},
            {"text": "Kebersihan", "callback_data": "cat:bersih"},
        ]]})
    );

    let keyboard = Buttons::Keyboard {
        rows: vec![
            vec![Key {
                label: "Kirim lokasi".into(),
                request: Some(KeyRequest::Location),
            }],
            vec![Key {
                label: "Bagikan nomor HP".into(),
                request: Some(KeyRequest::Contact),
            }],
            vec![Key {
                label: "Lewati".into(),
                request: None,
            }],
        ],
    };
    sender
        .send(&reply(SITI, with_buttons(keyboard)))
        .await
        .expect("keyboard");
    assert_eq!(
        fake.last("sendmessage")["reply_markup"],
        json!({
            "keyboard": [
                [{"text": "Kirim lokasi", "request_location": true}],
                [{"text": "Bagikan nomor HP", "request_contact": true}],
                [{"text": "Lewati"}],
            ],
            "resize_keyboard": true,
            "one_time_keyboard": true,
        })
    );

    let receipt = sender
        .send(&reply(SITI, with_buttons(Buttons::Remove)))
        .await
        .expect("remove");
    assert_eq!(
        receipt.provider_message_id.as_deref(),
        Some("5512345678:503")
    );
    let body = fake.last("sendmessage");
    assert_eq!(body["reply_markup"], json!({"remove_keyboard": true}));
    assert!(body.get("parse_mode").is_none(), "texts are plain: {body}");

    // Callback data Telegram would refuse is refused before any call.
    let calls = fake.calls().len();
    let long = Buttons::Inline {
        rows: vec![vec![choice("Terlalu panjang", &"x".repeat(65))]],
    };
    let err = sender
        .send(&reply(SITI, with_buttons(long)))
        .await
        .expect_err("too long");
    assert!(matches!(err, ChannelError::Permanent(_)), "{err}");
    assert_eq!(fake.calls().len(), calls);
}

#[tokio::test]
async fn edits_replace_our_message_or_fall_back_to_a_new_one() {
    let (fake, api, _) = start().await;
    let sender = TelegramSender::new(api);
    let edit = |of: &str, buttons: Option<Buttons>| Presentation {
        edit_of: Some(of.into()),
        buttons,
        callback_id: None,
    };

    let receipt = sender
        .send(&reply(SITI, edit("5512345678:206", Some(inline_buttons()))))
        .await
        .expect("edit");
    assert_eq!(
        receipt.provider_message_id.as_deref(),
        Some("5512345678:206")
    );
    let body = fake.last("editmessagetext");
    assert_eq!(body["chat_id"], SITI);
    assert_eq!(body["message_id"], 206);
    assert_eq!(body["text"], "Pilih kategori aduan Anda:");
    assert_eq!(
        body["reply_markup"]["inline_keyboard"][0][1]["callback_data"],
        "cat:bersih"
    );
    assert_eq!(fake.methods(), ["editmessagetext"]);

    // Already showing this text: success, nothing sent.
    let receipt = sender
        .send(&reply(SITI, edit("5512345678:207", None)))
        .await
        .expect("not modified");
    assert_eq!(
        receipt.provider_message_id.as_deref(),
        Some("5512345678:207")
    );
    assert_eq!(fake.methods(), ["editmessagetext", "editmessagetext"]);

    // Gone: a new message instead.
    let receipt = sender
        .send(&reply(SITI, edit("5512345678:208", Some(inline_buttons()))))
        .await
        .expect("fallback");
    assert_eq!(
        receipt.provider_message_id.as_deref(),
        Some("5512345678:500")
    );
    assert_eq!(
        fake.methods(),
        [
            "editmessagetext",
            "editmessagetext",
            "editmessagetext",
            "sendmessage"
        ]
    );
    assert_eq!(
        fake.last("sendmessage")["reply_markup"]["inline_keyboard"][0][0]["text"],
        "Infrastruktur"
    );

    // A keyboard cannot come with an edit: sent as a new message.
    let keyboard = Buttons::Keyboard {
        rows: vec![vec![Key {
            label: "Kirim lokasi".into(),
            request: Some(KeyRequest::Location),
        }]],
    };
    sender
        .send(&reply(SITI, edit("5512345678:206", Some(keyboard))))
        .await
        .expect("keyboard");
    assert_eq!(
        fake.methods().last().map(String::as_str),
        Some("sendmessage")
    );
    assert_eq!(fake.methods().len(), 5);
}

#[tokio::test]
async fn a_tap_is_answered_before_the_reply() {
    let (fake, api, _) = start().await;
    let sender = TelegramSender::new(api);
    let tapped = |id: &str| Presentation {
        callback_id: Some(id.into()),
        buttons: Some(inline_buttons()),
        edit_of: Some("5512345678:206".into()),
    };

    sender
        .send(&reply(SITI, tapped("2367591234567890123")))
        .await
        .expect("answered");
    assert_eq!(fake.methods(), ["answercallbackquery", "editmessagetext"]);
    assert_eq!(
        fake.last("answercallbackquery"),
        json!({"callback_query_id": "2367591234567890123"})
    );

    // An expired tap does not stop the reply.
    let receipt = sender
        .send(&reply(SITI, tapped("expired")))
        .await
        .expect("reply despite the expired tap");
    assert_eq!(
        receipt.provider_message_id.as_deref(),
        Some("5512345678:206")
    );
    assert_eq!(fake.methods().len(), 4);
}

#[tokio::test]
async fn send_errors_are_sorted_by_what_can_be_done() {
    let (fake, api, _) = start().await;
    let sender = TelegramSender::new(api);
    let plain = Presentation::default;

    let err = sender
        .send(&reply(FLOODED, plain()))
        .await
        .expect_err("429");
    assert_eq!(err, ChannelError::RetryAfter(Duration::from_secs(7)));

    let err = sender
        .send(&reply(BLOCKED, plain()))
        .await
        .expect_err("403");
    assert_eq!(
        err,
        ChannelError::Permanent("Forbidden: bot was blocked by the user".into())
    );

    let err = sender
        .send(&reply(UNKNOWN_CHAT, plain()))
        .await
        .expect_err("400");
    assert_eq!(
        err,
        ChannelError::Permanent("Bad Request: chat not found".into())
    );

    let calls = fake.calls().len();
    for to in [
        "whatsapp:6281234567890",
        "telegram:",
        "telegram:@siti",
        "5512345678",
    ] {
        let mut r = reply(SITI, plain());
        r.to = to.into();
        let err = sender.send(&r).await.expect_err(to);
        assert!(matches!(err, ChannelError::Permanent(_)), "{to}: {err}");
    }
    assert_eq!(fake.calls().len(), calls, "no call for a foreign handle");
}

#[tokio::test]
async fn errors_never_show_the_token() {
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let api = BotApi::new(TOKEN.into(), Some(&base), Duration::from_secs(2)).expect("api");
    assert!(!format!("{api:?}").contains(TOKEN));

    let err = TelegramSender::new(api.clone())
        .send(&reply(SITI, Presentation::default()))
        .await
        .expect_err("refused");
    assert!(matches!(err, ChannelError::Transient(_)), "{err}");
    assert!(!err.to_string().contains(TOKEN), "{err}");

    let err = api.get_updates(None, 0, 100).await.expect_err("refused");
    assert!(matches!(err, ApiError::Transient(_)), "{err}");
    assert!(!err.to_string().contains(TOKEN), "{err}");

    let err = api
        .set_webhook("https://salur.example.go.id/hooks/telegram", None)
        .await
        .expect_err("refused");
    assert!(!err.to_string().contains(TOKEN), "{err}");

    let err = TelegramMedia::new(api)
        .fetch_file("photo_ok", LIMIT)
        .await
        .expect_err("refused");
    assert!(err.retryable(), "{err}");
    assert!(!err.to_string().contains(TOKEN), "{err}");
}

#[tokio::test]
async fn get_updates_keeps_each_update_byte_for_byte() {
    let (fake, api, _) = start().await;
    let updates = api
        .get_updates(Some(880_000_101), 25, 50)
        .await
        .expect("updates");
    assert_eq!(
        fake.last("getupdates"),
        json!({
            "offset": 880_000_101,
            "timeout": 25,
            "limit": 50,
            "allowed_updates": ["message", "edited_message", "callback_query"],
        })
    );
    // The element without an update id is skipped.
    assert_eq!(updates.len(), 2);
    assert_eq!(updates[0].update_id, 880_000_101);
    assert_eq!(&updates[0].raw[..], UPDATE_A.as_bytes());
    assert_eq!(updates[1].update_id, 880_000_102);
    assert_eq!(&updates[1].raw[..], UPDATE_B.as_bytes());

    let m = parse_update("tg-test", &updates[0].raw, false, Utc::now())
        .expect("parsed")
        .into_message()
        .expect("message");
    assert_eq!(m.text, "Jalan rusak  di depan pasar");
    assert_eq!(m.provider_message_id, "5512345678:301");
    assert_eq!(&m.raw[..], UPDATE_A.as_bytes());
    let tap = parse_update("tg-test", &updates[1].raw, false, Utc::now()).expect("parsed");
    assert!(matches!(tap, Parsed::Message(m) if m.provider_message_id == "cb:2367591234567890123"));

    // Without an offset, none is sent; the limit stays within 1 to 100.
    api.get_updates(None, 0, 0).await.expect("updates");
    assert_eq!(
        fake.last("getupdates"),
        json!({"timeout": 0, "limit": 1, "allowed_updates": ["message", "edited_message", "callback_query"]})
    );
}

#[tokio::test]
async fn a_long_poll_may_outlast_the_call_timeout() {
    let (_fake, _, base) = start().await;
    let api = BotApi::new(TOKEN.into(), Some(&base), Duration::from_millis(300)).expect("api");
    let updates = api.get_updates(Some(777), 1, 100).await.expect("waited");
    assert!(updates.is_empty());
}

#[tokio::test]
async fn get_updates_errors_are_sorted() {
    let (_fake, api, base) = start().await;
    let err = api.get_updates(Some(409), 0, 100).await.expect_err("409");
    assert!(
        matches!(&err, ApiError::Conflict(d) if d.contains("webhook is active")),
        "{err}"
    );
    assert!(err.retryable());
    assert_eq!(
        ChannelError::from(err),
        ChannelError::Transient(
            "conflict: Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
                .into()
        )
    );

    let err = api.get_updates(Some(429), 0, 100).await.expect_err("429");
    assert_eq!(err, ApiError::RetryAfter(Duration::from_secs(3)));

    let err = api.get_updates(Some(502), 0, 100).await.expect_err("502");
    assert!(
        matches!(&err, ApiError::Transient(d) if d.contains("502")),
        "{err}"
    );

    let wrong = BotApi::new(
        "7000000001:revoked".into(),
        Some(&base),
        Duration::from_secs(5),
    )
    .expect("api");
    let err = wrong.get_updates(None, 0, 100).await.expect_err("401");
    assert_eq!(err, ApiError::Unauthorized);
    assert!(matches!(
        ChannelError::from(err),
        ChannelError::Permanent(_)
    ));
}

#[tokio::test]
async fn webhooks_are_set_and_deleted() {
    let (fake, api, base) = start().await;
    api.set_webhook(
        "https://salur.example.go.id/hooks/telegram/tg-test",
        Some("s3cr3t-T0ken_x"),
    )
    .await
    .expect("set");
    let Value::String(form) = fake.last("setwebhook") else {
        panic!("setWebhook is sent as a multipart form");
    };
    for part in [
        "https://salur.example.go.id/hooks/telegram/tg-test",
        "s3cr3t-T0ken_x",
        "\"message\"",
        "\"edited_message\"",
        "\"callback_query\"",
    ] {
        assert!(form.contains(part), "{part} in {form}");
    }
    api.delete_webhook().await.expect("delete");
    assert_eq!(fake.methods(), ["setwebhook", "deletewebhook"]);

    let err = api
        .set_webhook(
            "https://salur.example.go.id/hook",
            Some("no spaces allowed"),
        )
        .await
        .expect_err("secret");
    assert!(matches!(err, ApiError::Rejected(_)), "{err}");
    let err = api.set_webhook("not a url", None).await.expect_err("url");
    assert!(matches!(err, ApiError::Rejected(_)), "{err}");
    assert_eq!(fake.methods().len(), 2);

    let wrong = BotApi::new(
        "7000000001:revoked".into(),
        Some(&base),
        Duration::from_secs(5),
    )
    .expect("api");
    assert_eq!(
        wrong.delete_webhook().await.expect_err("401"),
        ApiError::Unauthorized
    );
}

#[tokio::test]
async fn media_is_looked_up_then_downloaded_within_the_limit() {
    let (fake, api, _) = start().await;
    let media = TelegramMedia::new(api);

    // Through the adapter contract; Telegram states no sha256, so a stated
    // one is not used.
    let photo = media
        .fetch("photo_ok", Some("not-checked"), LIMIT)
        .await
        .expect("photo");
    assert_eq!(&photo.bytes[..], PHOTO);
    assert_eq!(photo.sha256, hex::encode(Sha256::digest(PHOTO)));
    assert_eq!(photo.mime.as_deref(), Some("image/jpeg"));
    assert_eq!(fake.last("getfile"), json!({"file_id": "photo_ok"}));

    let voice = media
        .fetch_file("voice_nosize", LIMIT)
        .await
        .expect("voice");
    assert_eq!(&voice.bytes[..], VOICE);
    assert_eq!(voice.sha256, hex::encode(Sha256::digest(VOICE)));
    assert_eq!(voice.mime.as_deref(), Some("audio/ogg"));

    // Exactly at the limit is allowed.
    let exact = media
        .fetch_file("photo_ok", PHOTO.len() as u64)
        .await
        .expect("at the limit");
    assert_eq!(exact.bytes.len(), PHOTO.len());
}

#[tokio::test]
async fn media_over_the_limit_or_gone_is_refused_for_good() {
    let (fake, api, _) = start().await;
    let media = TelegramMedia::new(api);

    let err = media.fetch_file("huge", LIMIT).await.expect_err("huge");
    assert_eq!(
        err,
        MediaError::TooLarge {
            size: 50 * 1024 * 1024,
            limit: LIMIT
        }
    );

    let err = media.fetch_file("liar", LIMIT).await.expect_err("liar");
    assert!(
        matches!(err, MediaError::TooLarge { size, limit: LIMIT } if size > LIMIT),
        "{err}"
    );

    let err = media
        .fetch_file("streamed", LIMIT)
        .await
        .expect_err("over while streaming");
    assert!(
        matches!(err, MediaError::TooLarge { size, limit: LIMIT } if size > LIMIT && size < 4096),
        "{err}"
    );

    let err = media
        .fetch_file("photo_ok", PHOTO.len() as u64 - 1)
        .await
        .expect_err("one byte over");
    assert!(matches!(err, MediaError::TooLarge { .. }), "{err}");

    let err = media
        .fetch_file("too_big", 100 * 1024 * 1024)
        .await
        .expect_err("hosted limit");
    assert_eq!(
        err,
        MediaError::TooLarge {
            size: HOSTED_FILE_LIMIT + 1,
            limit: HOSTED_FILE_LIMIT
        }
    );

    let err = media
        .fetch_file("AgACAgUAAxkBAAIBZmdQx1sAAT3mN2kqXr8", LIMIT)
        .await
        .expect_err("unknown");
    assert!(
        matches!(&err, MediaError::Gone(d) if d.contains("invalid file_id")),
        "{err}"
    );

    let err = media.fetch_file("escape", LIMIT).await.expect_err("escape");
    assert!(matches!(err, MediaError::ForeignHost(_)), "{err}");

    let err = media
        .fetch_file("../photo_ok", LIMIT)
        .await
        .expect_err("not a file id");
    assert!(matches!(err, MediaError::Gone(_)), "{err}");

    for e in [
        media.fetch_file("huge", LIMIT).await,
        media.fetch_file("liar", LIMIT).await,
    ] {
        assert!(!e.expect_err("refused").retryable());
    }
    // Only look-ups: nothing was downloaded for a stated size over the limit.
    assert!(fake.methods().iter().all(|m| m == "getfile"));
}
