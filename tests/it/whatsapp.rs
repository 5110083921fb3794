//! The WhatsApp channel through the real app: handshake, signed events,
//! flagged types, concurrent redelivery, replies through a fake Graph API
//! and the delivery statuses that come back.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;

use salur::store::{Op, OutboundRow, Result as StoreResult, Tx};
use salur_channels_core::signature::hmac_sha256_hex;
use serde_json::{Value, json};

use crate::support::{Backend, TestApp, TestDb, config_toml, eventually, test_env};

const APP_SECRET: &str = "meta-app-secret";
const VERIFY: &str = "verify-me";
const TOKEN: &str = "EAAG-test-token";
const NUMBER_ID: &str = "106540352242922";
const FAST: &str = "quiet_period = \"1s\"\nseal_interval = \"100ms\"";

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/channels/whatsapp/tests/fixtures/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn channel(extra: &str) -> String {
    format!(
        "[[channels]]\nname = \"wa-utama\"\nkind = \"whatsapp\"\napp_secret = \"env:T_WA_SECRET\"\n\
         verify_token = \"env:T_WA_VERIFY\"\n{extra}\n"
    )
}

async fn start(db: &TestDb, extra: &str) -> TestApp {
    let env = test_env(&[
        ("T_WA_SECRET", APP_SECRET),
        ("T_WA_VERIFY", VERIFY),
        ("T_WA_TOKEN", TOKEN),
    ]);
    TestApp::start(&config_toml(&db.url, FAST, extra), &env).await
}

async fn post(app: &TestApp, body: &str, signature: Option<String>) -> reqwest::Response {
    let mut request = app
        .http
        .post(format!("{}/webhooks/whatsapp/wa-utama", app.base))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(s) = signature {
        request = request.header("x-hub-signature-256", s);
    }
    request.send().await.expect("post")
}

fn signed(body: &str) -> Option<String> {
    Some(format!(
        "sha256={}",
        hmac_sha256_hex(APP_SECRET.as_bytes(), body.as_bytes())
    ))
}

struct Quarantined;

impl Op for Quarantined {
    type Output = i64;
    async fn run<C: Tx>(&mut self, c: &mut C) -> StoreResult<i64> {
        c.count_quarantine().await
    }
}

struct Replies(String);

impl Op for Replies {
    type Output = Vec<OutboundRow>;
    async fn run<C: Tx>(&mut self, c: &mut C) -> StoreResult<Vec<OutboundRow>> {
        c.outbound_for_complaint(&self.0).await
    }
}

async fn events_are_stored_flagged_and_checked(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let app = start(&db, &channel("replies = false")).await;

    // Meta's subscription handshake.
    let url = format!("{}/webhooks/whatsapp/wa-utama", app.base);
    let ok = app
        .http
        .get(format!(
            "{url}?hub.mode=subscribe&hub.verify_token={VERIFY}&hub.challenge=8841"
        ))
        .send()
        .await
        .expect("get");
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.expect("text"), "8841");
    let refused = app
        .http
        .get(format!(
            "{url}?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1"
        ))
        .send()
        .await
        .expect("get");
    assert_eq!(refused.status(), 403);

    // Wrong, missing and re-ordered signatures store nothing.
    let body = fixture("wa_unknown_type");
    let wrong = Some(format!(
        "sha256={}",
        hmac_sha256_hex(b"other", body.as_bytes())
    ));
    assert_eq!(post(&app, &body, wrong).await.status(), 401);
    assert_eq!(post(&app, &body, None).await.status(), 401);
    let value: Value = serde_json::from_str(&body).expect("json");
    let reordered = serde_json::to_string(&value).expect("json");
    assert_ne!(reordered, body);
    assert_eq!(post(&app, &reordered, signed(&body)).await.status(), 401);
    assert_eq!(
        post(&app, "{\"object\":", signed("{\"object\":"))
            .await
            .status(),
        400
    );
    let huge = format!(
        "{{\"object\":\"whatsapp_business_account\",\"pad\":\"{}\"}}",
        "x".repeat(70_000)
    );
    assert_eq!(post(&app, &huge, signed(&huge)).await.status(), 413);
    assert_eq!(app.counts().await.messages, 0);
    let missing = app
        .http
        .post(format!("{}/webhooks/whatsapp/nope", app.base))
        .body(body.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(missing.status(), 404);

    // An unknown type is stored and quarantined; the text beside it in the
    // same batch becomes a complaint.
    assert_eq!(post(&app, &body, signed(&body)).await.status(), 200);
    let counts = eventually(Duration::from_secs(10), || async {
        let c = app.counts().await;
        (c.complaints == 1 && app.read(Quarantined).await == 1).then_some(c)
    })
    .await
    .expect("one complaint and one quarantined message");
    assert_eq!(counts.messages, 2);

    // The same wamid delivered 20 times at once is one message.
    let image = fixture("wa_image");
    let answers =
        futures_util::future::join_all((0..20).map(|_| post(&app, &image, signed(&image)))).await;
    assert!(answers.iter().all(|a| a.status() == 200));
    assert_eq!(app.counts().await.messages, 3);
    app.stop().await;
    db.drop_db().await;
}

crate::both_backends!(events_are_stored_flagged_and_checked);

/// A fake Graph API messages endpoint: records what it is sent and answers
/// with a new wamid.
#[derive(Default)]
struct Graph {
    sent: Mutex<Vec<(String, Value)>>,
}

async fn messages(
    State(graph): State<Arc<Graph>>,
    Path(number): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (axum::http::StatusCode, Json<Value>) {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if auth != format!("Bearer {TOKEN}") || number != NUMBER_ID {
        return (
            axum::http::StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"message": "Invalid OAuth access token.", "code": 190}})),
        );
    }
    graph.sent.lock().expect("sent").push((auth, body));
    (
        axum::http::StatusCode::OK,
        Json(json!({"messaging_product": "whatsapp", "messages": [{"id": "wamid.OURACK001"}]})),
    )
}

#[tokio::test]
async fn the_acknowledgement_goes_out_and_its_statuses_come_back() {
    let Some(db) = TestDb::new(Backend::Sqlite).await else {
        return;
    };
    let graph = Arc::new(Graph::default());
    let router = axum::Router::new()
        .route("/v21.0/{number}/messages", axum::routing::post(messages))
        .with_state(graph.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let graph_url = format!("http://{}/v21.0", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    let app = start(
        &db,
        &channel(&format!(
            "access_token = \"env:T_WA_TOKEN\"\nphone_number_id = \"{NUMBER_ID}\"\n\
             graph_url = \"{graph_url}\"\nassemble = false\ntemplate = \"aduan_diterima\""
        )),
    )
    .await;

    let body = fixture("wa_text");
    assert_eq!(post(&app, &body, signed(&body)).await.status(), 200);
    let complaint = eventually(Duration::from_secs(10), || async {
        let list: Value = app.api_get("/api/v1/complaints").await.json().await.ok()?;
        list["items"][0]["id"].as_str().map(str::to_owned)
    })
    .await
    .expect("a complaint");
    let sent = eventually(Duration::from_secs(10), || async {
        let rows = app.read(Replies(complaint.clone())).await;
        rows.into_iter().find(|r| r.state == "sent")
    })
    .await
    .expect("the acknowledgement is sent");
    assert_eq!(sent.provider_message_id.as_deref(), Some("wamid.OURACK001"));
    let posted = graph.sent.lock().expect("sent").clone();
    assert_eq!(posted.len(), 1);
    let (_, message) = &posted[0];
    assert_eq!(message["to"], "6281234567890");
    assert_eq!(message["type"], "text");
    let code = sent.tracking_code.clone().expect("code");
    assert!(
        message["text"]["body"]
            .as_str()
            .is_some_and(|t| t.contains(&code)),
        "{message}"
    );

    // Meta reports later that the window had closed (131047): the reply
    // goes out again, as the template.
    let closed = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages", "value": {"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "6281100000000", "phone_number_id": NUMBER_ID},
        "statuses": [{"id": "wamid.OURACK001", "status": "failed", "timestamp": "1764400200",
            "recipient_id": "6281234567890",
            "errors": [{"code": 131_047, "title": "Re-engagement message"}]}]}}]}]})
    .to_string();
    assert_eq!(post(&app, &closed, signed(&closed)).await.status(), 200);
    let resent = eventually(Duration::from_secs(10), || async {
        let posted = graph.sent.lock().expect("sent").clone();
        posted.get(1).map(|(_, body)| body.clone())
    })
    .await
    .expect("the reply is sent again");
    assert_eq!(resent["type"], "template", "{resent}");
    assert_eq!(resent["template"]["name"], "aduan_diterima");
    assert_eq!(
        resent["template"]["components"][0]["parameters"][0]["text"],
        code.as_str()
    );
    eventually(Duration::from_secs(10), || async {
        let rows = app.read(Replies(complaint.clone())).await;
        (rows[0].state == "sent").then_some(())
    })
    .await
    .expect("sent again");

    // sent, delivered, read; then a late `delivered` moves nothing back.
    let statuses = fixture("wa_status_only");
    assert_eq!(post(&app, &statuses, signed(&statuses)).await.status(), 200);
    let rows = app.read(Replies(complaint.clone())).await;
    assert_eq!(rows[0].state, "read");
    let late = statuses.replace("\"read\"", "\"delivered\"");
    assert_eq!(post(&app, &late, signed(&late)).await.status(), 200);
    let rows = app.read(Replies(complaint.clone())).await;
    assert_eq!(rows[0].state, "read");

    // A reply to our acknowledgement (its `context.id`) joins that
    // complaint instead of opening another, though this channel does not
    // join fragments.
    let reply = fixture("wa_reply_context");
    assert_eq!(post(&app, &reply, signed(&reply)).await.status(), 200);
    let joined = eventually(Duration::from_secs(10), || async {
        let c = app.counts().await;
        (c.messages == 2).then_some(c)
    })
    .await
    .expect("the reply is stored");
    let detail = eventually(Duration::from_secs(10), || async {
        let d = app.complaint(&complaint).await;
        (d["message_ids"].as_array().map(Vec::len) == Some(2)).then_some(d)
    })
    .await
    .unwrap_or_else(|| panic!("the reply joins {complaint}"));
    assert_eq!(joined.complaints, 1, "{detail}");
    app.stop().await;
    db.drop_db().await;
}

/// The bytes the fake Graph API serves for media `1479537139650973`.
const PHOTO: &[u8] = b"\xff\xd8\xff\xe0 jalan berlubang di depan SDN 3";

/// A fake Graph API for the end-to-end story: media look-ups and files
/// (the first download of `expiring` finds its URL expired) and the
/// messages endpoint.
async fn graph_with_media() -> (Arc<Graph>, String) {
    async fn lookup(
        State(base): State<Arc<Mutex<String>>>,
        Path(id): Path<String>,
        headers: HeaderMap,
    ) -> axum::response::Response {
        use axum::response::IntoResponse;
        if headers.get("authorization").and_then(|v| v.to_str().ok())
            != Some(format!("Bearer {TOKEN}").as_str())
        {
            return axum::http::StatusCode::UNAUTHORIZED.into_response();
        }
        let base = base.lock().expect("base").clone();
        let size = if id == "huge" { 1 << 30 } else { PHOTO.len() };
        Json(json!({
            "messaging_product": "whatsapp",
            "url": format!("{base}/files/{id}"),
            "mime_type": "image/jpeg",
            "sha256": sha256_hex(PHOTO),
            "file_size": size,
            "id": id,
        }))
        .into_response()
    }
    async fn file(
        State(downloads): State<Arc<std::sync::atomic::AtomicUsize>>,
        Path(id): Path<String>,
    ) -> axum::response::Response {
        use axum::response::IntoResponse;
        let n = downloads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if id == "expiring" && n == 0 {
            return axum::http::StatusCode::NOT_FOUND.into_response();
        }
        PHOTO.to_vec().into_response()
    }
    let graph = Arc::new(Graph::default());
    let base = Arc::new(Mutex::new(String::new()));
    let router = axum::Router::new()
        .route("/v21.0/{number}/messages", axum::routing::post(messages))
        .with_state(graph.clone())
        .merge(
            axum::Router::new()
                .route("/v21.0/{id}", axum::routing::get(lookup))
                .with_state(base.clone()),
        )
        .merge(
            axum::Router::new()
                .route("/files/{id}", axum::routing::get(file))
                .with_state(Arc::new(std::sync::atomic::AtomicUsize::new(0))),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let root = format!("http://{}", listener.local_addr().expect("addr"));
    *base.lock().expect("base") = root.clone();
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    (graph, format!("{root}/v21.0"))
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The image fixture, naming `media_id` and stating the served file's sha256.
fn image_with(media_id: &str, wamid: &str) -> String {
    let mut body: Value = serde_json::from_str(&fixture("wa_image")).expect("json");
    let message = &mut body["entry"][0]["changes"][0]["value"]["messages"][0];
    message["id"] = json!(wamid);
    message["image"]["id"] = json!(media_id);
    message["image"]["sha256"] = json!(sha256_hex(PHOTO));
    body.to_string()
}

async fn text_photo_and_location_make_one_complaint(backend: Backend) {
    if !crate::support::service_available("NATS", "127.0.0.1:4222").await {
        return;
    }
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (graph, graph_url) = graph_with_media().await;
    let media = tempfile::tempdir().expect("media dir");
    let suffix = ulid::Ulid::new().to_string();
    let stream = format!("SALUR_WA_{suffix}");
    let prefix = format!("wa{}.complaints", suffix.to_lowercase());
    let extra = format!(
        "{}[[sinks]]\nkind = \"nats\"\nurl = \"nats://127.0.0.1:4222\"\nstream = \"{stream}\"\n\
         subject_prefix = \"{prefix}\"\n",
        channel(&format!(
            "access_token = \"env:T_WA_TOKEN\"\nphone_number_id = \"{NUMBER_ID}\"\n\
             graph_url = \"{graph_url}\"\n"
        ))
    );
    let intake = format!(
        "{FAST}\nmedia_dir = \"{}\"\nmedia_max_bytes = 4096",
        media.path().display()
    );
    let env = test_env(&[
        ("T_WA_SECRET", APP_SECRET),
        ("T_WA_VERIFY", VERIFY),
        ("T_WA_TOKEN", TOKEN),
    ]);
    let app = TestApp::start(&config_toml(&db.url, &intake, &extra), &env).await;

    // Text, then a photo whose first download URL has expired, then the
    // location, within the quiet period.
    for body in [
        fixture("wa_text"),
        image_with("expiring", "wamid.photo1"),
        fixture("wa_location"),
    ] {
        assert_eq!(post(&app, &body, signed(&body)).await.status(), 200);
    }
    let complaint = eventually(Duration::from_secs(15), || async {
        let list: Value = app.api_get("/api/v1/complaints").await.json().await.ok()?;
        let items = list["items"].as_array()?;
        let c = items.first()?;
        (items.len() == 1 && c["sealed"] == true && c["attachments"][0]["state"] == "stored")
            .then(|| c.clone())
    })
    .await
    .expect("one sealed complaint with its photo stored");
    assert_eq!(complaint["message_ids"].as_array().map(Vec::len), Some(3));
    assert_eq!(complaint["location"]["lat"], -7.2504);
    let attachment = &complaint["attachments"][0];
    assert_eq!(attachment["sha256"], sha256_hex(PHOTO));
    let sha = sha256_hex(PHOTO);
    let kept = media.path().join(&sha[..2]).join(&sha);
    assert_eq!(
        std::fs::read(&kept).expect("file kept by its sha256"),
        PHOTO
    );

    // One acknowledgement, one complaint.created.
    let acks = eventually(Duration::from_secs(10), || async {
        let n = graph.sent.lock().expect("sent").len();
        (n >= 1).then_some(n)
    })
    .await;
    assert_eq!(acks, Some(1));
    let client = async_nats::connect("nats://127.0.0.1:4222")
        .await
        .expect("nats");
    let js = async_nats::jetstream::new(client);
    let events = eventually(Duration::from_secs(10), || async {
        let mut s = js.get_stream(&stream).await.ok()?;
        let n = s.info().await.ok()?.state.messages;
        (n >= 1).then_some(n)
    })
    .await;
    assert_eq!(events, Some(1));

    // A file over the limit is missing, with the reason; the complaint
    // stands, and a retry queues it again.
    let huge = image_with("huge", "wamid.photo2");
    assert_eq!(post(&app, &huge, signed(&huge)).await.status(), 200);
    let missing = eventually(Duration::from_secs(15), || async {
        let list: Value = app.api_get("/api/v1/complaints").await.json().await.ok()?;
        list["items"].as_array()?.iter().find_map(|c| {
            c["attachments"]
                .as_array()?
                .iter()
                .find(|a| a["state"] == "missing")
                .cloned()
        })
    })
    .await
    .expect("the large file is missing");
    let id = missing["id"].as_str().expect("id");
    let retry = app
        .http
        .post(format!("{}/api/v1/attachments/{id}/retry", app.base))
        .bearer_auth(crate::support::API_TOKEN)
        .send()
        .await
        .expect("retry");
    assert_eq!(retry.status(), 202);
    let again = app
        .http
        .post(format!("{}/api/v1/attachments/{id}/retry", app.base))
        .bearer_auth(crate::support::API_TOKEN)
        .send()
        .await
        .expect("retry");
    assert_eq!(again.status(), 404, "only a missing attachment is retried");
    let _ = js.delete_stream(&stream).await;
    app.stop().await;
    db.drop_db().await;
}

crate::both_backends!(text_photo_and_location_make_one_complaint);

async fn one_citizen_on_sms_and_whatsapp_and_two_numbers_on_one_app(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let extra = format!(
        "{}\n[[channels]]\nname = \"wa-kedua\"\nkind = \"whatsapp\"\napp_secret = \"env:T_WA_SECRET\"\n\
         verify_token = \"env:T_WA_VERIFY\"\nphone_number_id = \"106540352242999\"\nreplies = false\n",
        channel(&format!(
            "phone_number_id = \"{NUMBER_ID}\"\nreplies = false\nassemble = false"
        ))
    );
    let app = start(&db, &extra).await;

    // The same complaint by SMS from 0812… and by WhatsApp from wa_id 62812…:
    // one reporter, so the second is a duplicate of the first.
    let sms = app
        .sms(
            "sms-rakit",
            &crate::support::sms_body(
                "s1",
                "081234567890",
                "Lampu jalan di Jl. Merdeka mati sejak seminggu.",
            ),
        )
        .await;
    let body = fixture("wa_text");
    assert_eq!(post(&app, &body, signed(&body)).await.status(), 200);
    let whatsapp = eventually(Duration::from_secs(10), || async {
        let list: Value = app
            .api_get("/api/v1/complaints?limit=50")
            .await
            .json()
            .await
            .ok()?;
        list["items"]
            .as_array()?
            .iter()
            .find(|c| c["channel"] == "whatsapp")
            .cloned()
    })
    .await
    .expect("the WhatsApp complaint");
    assert_eq!(whatsapp["reporter"]["phone"], "+6281234567890");
    assert_eq!(whatsapp["reporter"]["handle"], "whatsapp:6281234567890");
    assert_eq!(whatsapp["duplicate_of"], sms["complaint_id"], "{whatsapp}");

    // One app, two numbers: the message to the second number is the
    // second instance's, though it came to the first one's URL.
    let batch = fixture("wa_batch_two_changes");
    assert_eq!(post(&app, &batch, signed(&batch)).await.status(), 200);
    let second = eventually(Duration::from_secs(10), || async {
        let list: Value = app
            .api_get("/api/v1/complaints?limit=50")
            .await
            .json()
            .await
            .ok()?;
        list["items"]
            .as_array()?
            .iter()
            .find(|c| {
                c["body"]
                    .as_str()
                    .is_some_and(|b| b.contains("nomor kedua"))
            })
            .cloned()
    })
    .await
    .expect("the message to the second number");
    assert_eq!(second["channel_name"], "wa-kedua");
    app.stop().await;
    db.drop_db().await;
}

crate::both_backends!(one_citizen_on_sms_and_whatsapp_and_two_numbers_on_one_app);
