//! The reply senders against small fake providers.
//!
//! Each fake is an axum server on `127.0.0.1:0` that follows its provider's
//! documented request shape (path, auth, fields; malformed requests are
//! refused the way the provider refuses them) and documented answers. The
//! fakes decide by recipient: [`NUMBER`] is sent, [`THROTTLED`] is
//! rate-limited, [`FLAKY`] fails with a server error on its first call
//! only, and a number that is not a plausible Indonesian mobile number
//! ([`INVALID`]) is refused as invalid.
//!
//! Gammu runs small shell scripts written to a fresh temporary directory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use salur_channel_sms::send::{
    AfricasTalkingSender, AndroidSender, GammuSender, KannelSender, TwilioFrom, TwilioSender,
    VonageSender, http_client,
};
use salur_channels_core::{ChannelError, OutboundReply, ReplyKind, ReplySender, SentReceipt};
use serde_json::{Value, json};

/// A recipient every fake sends to.
const NUMBER: &str = "+6281234567890";
/// A recipient every fake answers with its rate-limit answer.
const THROTTLED: &str = "+6281200000429";
/// A recipient whose first send meets a server error.
const FLAKY: &str = "+6281200000500";
/// Valid E.164, but no Indonesian mobile number: the providers refuse it.
const INVALID: &str = "+62000000000";
/// Text that needs UCS-2.
const EMOJI_TEXT: &str = "Laporan SLR-7K3Q-9XPA diterima, terima kasih 🙏";
/// Text in the GSM-7 alphabet, with characters that need URL-encoding.
const GSM_TEXT: &str = "Laporan SLR-7K3Q-9XPA diteruskan ke Dinas PU & Penataan Ruang (50%).";

fn reply(to: &str, text: &str) -> OutboundReply {
    OutboundReply {
        channel_name: "sms-utama".into(),
        to: format!("sms:{to}"),
        text: text.into(),
        in_reply_to: None,
        tracking_code: Some("SLR-7K3Q-9XPA".into()),
        kind: ReplyKind::Acknowledgement,
        last_inbound_at: None,
        window_closed: false,
        presentation: Default::default(),
    }
}

fn client() -> reqwest::Client {
    http_client(Duration::from_secs(5)).expect("http client")
}

/// Serves `router` on a free loopback port; returns its base URL.
async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}")
}

/// Request fields in order, as the fake received them.
#[derive(Debug, Clone, Default)]
struct Fields(Vec<(String, String)>);

impl Fields {
    fn parse(encoded: &[u8]) -> Self {
        Self(form_urlencoded::parse(encoded).into_owned().collect())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a fake remembers: the requests it accepted, and calls per number.
#[derive(Clone, Default)]
struct Fake {
    accepted: Arc<Mutex<Vec<Fields>>>,
    calls: Arc<Mutex<HashMap<String, usize>>>,
}

/// What a fake does with a well-formed request.
#[derive(Debug, PartialEq)]
enum Outcome {
    Send,
    Throttle,
    ServerError,
    InvalidNumber,
}

impl Fake {
    /// Decides the outcome for a request to `number` and counts the call.
    fn outcome(&self, number: &str) -> Outcome {
        let mut calls = self.calls.lock().expect("calls");
        let count = calls.entry(number.to_owned()).or_default();
        *count += 1;
        if !plausible(number.trim_start_matches('+')) {
            Outcome::InvalidNumber
        } else if number.ends_with(&THROTTLED[1..]) {
            Outcome::Throttle
        } else if number.ends_with(&FLAKY[1..]) && *count == 1 {
            Outcome::ServerError
        } else {
            Outcome::Send
        }
    }

    fn accept(&self, fields: Fields) {
        self.accepted.lock().expect("accepted").push(fields);
    }

    fn last(&self) -> Fields {
        self.accepted
            .lock()
            .expect("accepted")
            .last()
            .cloned()
            .expect("an accepted request")
    }
}

/// An Indonesian mobile number in international digits: 628 and 8 to 11
/// more digits.
fn plausible(digits: &str) -> bool {
    digits.strip_prefix("628").is_some_and(|rest| {
        (8..=11).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_digit())
    })
}

fn content_type_is(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(expected))
}

fn form(headers: &HeaderMap, body: &[u8]) -> Option<Fields> {
    content_type_is(headers, "application/x-www-form-urlencoded").then(|| Fields::parse(body))
}

/// The user and password of a basic `Authorization` header.
fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

fn json_answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn text_answer(status: StatusCode, body: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain")], body).into_response()
}

fn expect_transient(result: Result<SentReceipt, ChannelError>) -> String {
    match result {
        Err(ChannelError::Transient(message)) => message,
        other => panic!("expected a transient error, got {other:?}"),
    }
}

fn expect_permanent(result: Result<SentReceipt, ChannelError>) -> String {
    match result {
        Err(ChannelError::Permanent(message)) => message,
        other => panic!("expected a permanent error, got {other:?}"),
    }
}

/// Error text must not show a credential or any recipient's number.
fn assert_clean(message: &str, secrets: &[&str]) {
    for hidden in secrets
        .iter()
        .chain(&["1234567890", "1200000429", "1200000500", "62000000000"])
    {
        assert!(
            !message.contains(hidden),
            "{hidden:?} leaked into {message:?}"
        );
    }
}

/// The rate-limit, invalid-number and server-error cases, the same for
/// every provider. `retry_after` is the hint the fake's rate limit gives.
async fn assert_failures(sender: &dyn ReplySender, secrets: &[&str], retry_after: Option<&str>) {
    let throttled = expect_transient(sender.send(&reply(THROTTLED, GSM_TEXT)).await);
    if let Some(hint) = retry_after {
        assert!(
            throttled.contains(&format!("retry-after {hint}")),
            "{throttled}"
        );
    }
    assert_clean(&throttled, secrets);

    let invalid = expect_permanent(sender.send(&reply(INVALID, GSM_TEXT)).await);
    assert_clean(&invalid, secrets);

    let failed = expect_transient(sender.send(&reply(FLAKY, GSM_TEXT)).await);
    assert_clean(&failed, secrets);
    sender
        .send(&reply(FLAKY, GSM_TEXT))
        .await
        .expect("the retry goes through");
}

// --- Twilio ---------------------------------------------------------------

const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";
const TWILIO_TOKEN: &str = "twilio-auth-token-0001";

fn twilio_error(status: StatusCode, code: u32, message: &str) -> Response {
    json_answer(
        status,
        json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status.as_u16(),
        }),
    )
}

async fn twilio_messages(
    State(fake): State<Fake>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authorised = basic_auth(&headers) == Some((TWILIO_SID.into(), TWILIO_TOKEN.into()));
    if sid != TWILIO_SID || !authorised {
        return twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    let Some(fields) = form(&headers, &body) else {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21604,
            "A 'To' phone number is required.",
        );
    };
    let Some(to) = fields.get("To").map(str::to_owned) else {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21604,
            "A 'To' phone number is required.",
        );
    };
    if fields.get("Body").is_none_or(str::is_empty) {
        return twilio_error(StatusCode::BAD_REQUEST, 21602, "Message body is required.");
    }
    if fields.get("From").is_none() && fields.get("MessagingServiceSid").is_none() {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21603,
            "A 'From' phone number is required.",
        );
    }
    match fake.outcome(&to) {
        Outcome::InvalidNumber => twilio_error(
            StatusCode::BAD_REQUEST,
            21211,
            &format!("The 'To' number {to} is not a valid phone number."),
        ),
        Outcome::Throttle => {
            let mut answer =
                twilio_error(StatusCode::TOO_MANY_REQUESTS, 20429, "Too Many Requests");
            answer
                .headers_mut()
                .insert(header::RETRY_AFTER, "7".parse().expect("header"));
            answer
        }
        Outcome::ServerError => twilio_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            20500,
            "Internal Server Error",
        ),
        Outcome::Send => {
            let body = fields.get("Body").unwrap_or_default().to_owned();
            fake.accept(fields);
            json_answer(
                StatusCode::CREATED,
                json!({
                    "sid": "SM1f0e8ae6ade43cb3c0ce4525424e404f",
                    "account_sid": TWILIO_SID,
                    "to": to,
                    "body": body,
                    "status": "queued",
                    "num_segments": "1",
                    "direction": "outbound-api",
                    "api_version": "2010-04-01",
                }),
            )
        }
    }
}

async fn twilio(from: TwilioFrom, token: &str) -> (Fake, TwilioSender) {
    let fake = Fake::default();
    let router = Router::new()
        .route(
            "/2010-04-01/Accounts/{sid}/Messages.json",
            post(twilio_messages),
        )
        .with_state(fake.clone());
    let base = serve(router).await;
    let sender = TwilioSender::new(client(), Some(&base), TWILIO_SID.into(), token.into(), from)
        .expect("sender");
    (fake, sender)
}

#[tokio::test]
async fn twilio_sends_the_form_and_returns_the_message_sid() {
    let (fake, sender) = twilio(TwilioFrom::Number("+6281100001708".into()), TWILIO_TOKEN).await;
    let receipt = sender.send(&reply(NUMBER, EMOJI_TEXT)).await.expect("sent");
    assert_eq!(
        receipt.provider_message_id.as_deref(),
        Some("SM1f0e8ae6ade43cb3c0ce4525424e404f")
    );
    let fields = fake.last();
    assert_eq!(fields.get("To"), Some(NUMBER));
    assert_eq!(fields.get("From"), Some("+6281100001708"));
    assert_eq!(fields.get("Body"), Some(EMOJI_TEXT));

    let (fake, sender) = twilio(TwilioFrom::MessagingService("MG0123".into()), TWILIO_TOKEN).await;
    sender.send(&reply(NUMBER, GSM_TEXT)).await.expect("sent");
    let fields = fake.last();
    assert_eq!(fields.get("MessagingServiceSid"), Some("MG0123"));
    assert_eq!(fields.get("From"), None);
    assert_eq!(fields.get("Body"), Some(GSM_TEXT));
}

#[tokio::test]
async fn twilio_failures_are_transient_or_permanent() {
    let (_, sender) = twilio(TwilioFrom::Number("+6281100001708".into()), TWILIO_TOKEN).await;
    assert_failures(&sender, &[TWILIO_TOKEN, TWILIO_SID], Some("7")).await;
    let invalid = expect_permanent(sender.send(&reply(INVALID, GSM_TEXT)).await);
    assert!(invalid.contains("21211"), "{invalid}");
}

#[tokio::test]
async fn twilio_refuses_a_wrong_auth_token_for_good() {
    let (_, sender) = twilio(TwilioFrom::Number("+6281100001708".into()), "wrong-token").await;
    let refused = expect_permanent(sender.send(&reply(NUMBER, GSM_TEXT)).await);
    assert!(refused.contains("20003"), "{refused}");
    assert_clean(&refused, &["wrong-token", TWILIO_SID]);
}

// --- Vonage ---------------------------------------------------------------

const VONAGE_KEY: &str = "a1b2c3d4";
const VONAGE_SECRET: &str = "vonage-secret-0001";

fn vonage_status(status: &str, error_text: &str) -> Response {
    json_answer(
        StatusCode::OK,
        json!({
            "message-count": "1",
            "messages": [{"status": status, "error-text": error_text}],
        }),
    )
}

async fn vonage_sms(State(fake): State<Fake>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(fields) = form(&headers, &body) else {
        return vonage_status("2", "Missing api_key");
    };
    for required in ["api_key", "api_secret", "from", "to", "text"] {
        if fields.get(required).is_none_or(str::is_empty) {
            return vonage_status("2", &format!("Missing {required}"));
        }
    }
    if fields.get("api_key") != Some(VONAGE_KEY) || fields.get("api_secret") != Some(VONAGE_SECRET)
    {
        return vonage_status("4", "Bad Credentials");
    }
    let to = fields.get("to").unwrap_or_default().to_owned();
    if !to.bytes().all(|b| b.is_ascii_digit()) {
        return vonage_status("3", "Invalid to address");
    }
    if !matches!(fields.get("type"), None | Some("text" | "unicode")) {
        return vonage_status("3", "Invalid message type");
    }
    match fake.outcome(&to) {
        Outcome::InvalidNumber => vonage_status("3", "Invalid to address"),
        Outcome::Throttle => vonage_status(
            "1",
            "Throughput Rate Exceeded - please wait [ 30 ] and retry",
        ),
        Outcome::ServerError => vonage_status("5", "Internal Error"),
        Outcome::Send => {
            fake.accept(fields);
            json_answer(
                StatusCode::OK,
                json!({
                    "message-count": "1",
                    "messages": [{
                        "to": to,
                        "message-id": "0C000000217B7F02",
                        "status": "0",
                        "remaining-balance": "15.53590000",
                        "message-price": "0.03330000",
                        "network": "51010",
                    }],
                }),
            )
        }
    }
}

async fn vonage(secret: &str) -> (Fake, VonageSender) {
    let fake = Fake::default();
    let router = Router::new()
        .route("/sms/json", post(vonage_sms))
        .with_state(fake.clone());
    let base = serve(router).await;
    let sender = VonageSender::new(
        client(),
        Some(&base),
        VONAGE_KEY.into(),
        secret.into(),
        "SALUR".into(),
    )
    .expect("sender");
    (fake, sender)
}

#[tokio::test]
async fn vonage_sends_digits_and_unicode_type_and_returns_the_message_id() {
    let (fake, sender) = vonage(VONAGE_SECRET).await;
    let receipt = sender.send(&reply(NUMBER, EMOJI_TEXT)).await.expect("sent");
    assert_eq!(
        receipt.provider_message_id.as_deref(),
        Some("0C000000217B7F02")
    );
    let fields = fake.last();
    assert_eq!(fields.get("to"), Some("6281234567890"));
    assert_eq!(fields.get("from"), Some("SALUR"));
    assert_eq!(fields.get("text"), Some(EMOJI_TEXT));
    assert_eq!(fields.get("type"), Some("unicode"));

    sender.send(&reply(NUMBER, GSM_TEXT)).await.expect("sent");
    let fields = fake.last();
    assert_eq!(fields.get("text"), Some(GSM_TEXT));
    assert_eq!(fields.get("type"), None, "GSM-7 text goes as plain text");
}

#[tokio::test]
async fn vonage_failures_are_transient_or_permanent() {
    let (_, sender) = vonage(VONAGE_SECRET).await;
    assert_failures(&sender, &[VONAGE_SECRET, VONAGE_KEY], None).await;
    let throttled = expect_transient(sender.send(&reply(THROTTLED, GSM_TEXT)).await);
    assert!(throttled.contains("throttled"), "{throttled}");
}

#[tokio::test]
async fn vonage_refuses_bad_credentials_for_good() {
    let (_, sender) = vonage("wrong-secret").await;
    let refused = expect_permanent(sender.send(&reply(NUMBER, GSM_TEXT)).await);
    assert!(refused.contains("status 4"), "{refused}");
    assert_clean(&refused, &["wrong-secret", VONAGE_KEY]);
}

// --- Africa's Talking -----------------------------------------------------

const AT_USERNAME: &str = "salur";
const AT_KEY: &str = "atsk_0123456789abcdef";
/// A recipient whose send meets an empty balance.
const NO_BALANCE: &str = "+6281200000405";

fn at_recipient(status_code: u16, number: &str, status: &str, message_id: &str) -> Response {
    let sent = u16::from(status_code < 200);
    json_answer(
        StatusCode::CREATED,
        json!({"SMSMessageData": {
            "Message": format!("Sent to {sent}/1 Total Cost: KES 0.8000"),
            "Recipients": [{
                "statusCode": status_code,
                "number": number,
                "status": status,
                "cost": "KES 0.8000",
                "messageId": message_id,
            }],
        }}),
    )
}

async fn at_messaging(State(fake): State<Fake>, headers: HeaderMap, body: Bytes) -> Response {
    let key = headers.get("apikey").and_then(|v| v.to_str().ok());
    let Some(fields) = form(&headers, &body) else {
        return text_answer(
            StatusCode::BAD_REQUEST,
            "Request is missing required form field 'to'",
        );
    };
    if key != Some(AT_KEY) || fields.get("username") != Some(AT_USERNAME) {
        return text_answer(
            StatusCode::UNAUTHORIZED,
            "The supplied authentication is invalid",
        );
    }
    let accepts_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if !accepts_json {
        return text_answer(StatusCode::NOT_ACCEPTABLE, "Only XML or JSON answers");
    }
    for required in ["to", "message"] {
        if fields.get(required).is_none_or(str::is_empty) {
            return text_answer(
                StatusCode::BAD_REQUEST,
                "Request is missing required form field",
            );
        }
    }
    let to = fields.get("to").unwrap_or_default().to_owned();
    if to == NO_BALANCE {
        return at_recipient(405, &to, "InsufficientBalance", "None");
    }
    match fake.outcome(&to) {
        Outcome::InvalidNumber => at_recipient(403, &to, "InvalidPhoneNumber", "None"),
        // Africa's Talking does not document its rate-limit answer; the fake
        // uses the generic HTTP 429 with a Retry-After.
        Outcome::Throttle => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "60")],
            "Too Many Requests",
        )
            .into_response(),
        Outcome::ServerError => at_recipient(500, &to, "InternalServerError", "None"),
        Outcome::Send => {
            fake.accept(fields);
            at_recipient(
                101,
                &to,
                "Success",
                "ATXid_c4bdd23b12ad66c9a48cc1ed783da85f",
            )
        }
    }
}

async fn africastalking(api_key: &str, from: Option<&str>) -> (Fake, AfricasTalkingSender) {
    let fake = Fake::default();
    let router = Router::new()
        .route("/version1/messaging", post(at_messaging))
        .with_state(fake.clone());
    let base = serve(router).await;
    let sender = AfricasTalkingSender::new(
        client(),
        Some(&base),
        AT_USERNAME.into(),
        api_key.into(),
        from.map(str::to_owned),
    )
    .expect("sender");
    (fake, sender)
}

#[tokio::test]
async fn africastalking_sends_the_form_and_returns_the_message_id() {
    let (fake, sender) = africastalking(AT_KEY, Some("SALUR")).await;
    let receipt = sender.send(&reply(NUMBER, EMOJI_TEXT)).await.expect("sent");
    assert_eq!(
        receipt.provider_message_id.as_deref(),
        Some("ATXid_c4bdd23b12ad66c9a48cc1ed783da85f")
    );
    let fields = fake.last();
    assert_eq!(fields.get("username"), Some(AT_USERNAME));
    assert_eq!(fields.get("to"), Some(NUMBER));
    assert_eq!(fields.get("message"), Some(EMOJI_TEXT));
    assert_eq!(fields.get("from"), Some("SALUR"));

    let (fake, sender) = africastalking(AT_KEY, None).await;
    sender.send(&reply(NUMBER, GSM_TEXT)).await.expect("sent");
    assert_eq!(fake.last().get("from"), None);
}

#[tokio::test]
async fn africastalking_failures_are_transient_or_permanent() {
    let (_, sender) = africastalking(AT_KEY, None).await;
    assert_failures(&sender, &[AT_KEY], Some("60")).await;
    let invalid = expect_permanent(sender.send(&reply(INVALID, GSM_TEXT)).await);
    assert!(invalid.contains("InvalidPhoneNumber"), "{invalid}");
    let broke = expect_transient(sender.send(&reply(NO_BALANCE, GSM_TEXT)).await);
    assert!(broke.contains("InsufficientBalance"), "{broke}");
    assert_clean(&broke, &[AT_KEY]);
}

#[tokio::test]
async fn africastalking_refuses_a_wrong_api_key_for_good() {
    let (_, sender) = africastalking("wrong-key", None).await;
    let refused = expect_permanent(sender.send(&reply(NUMBER, GSM_TEXT)).await);
    assert!(refused.contains("401"), "{refused}");
    assert_clean(&refused, &["wrong-key"]);
}

// --- Kannel ---------------------------------------------------------------

const KANNEL_USER: &str = "salur";
const KANNEL_PASS: &str = "kannel-pass";

async fn kannel_sendsms(State(fake): State<Fake>, RawQuery(query): RawQuery) -> Response {
    let fields = Fields::parse(query.unwrap_or_default().as_bytes());
    let user = fields.get("username").or_else(|| fields.get("user"));
    let pass = fields.get("password").or_else(|| fields.get("pass"));
    if user != Some(KANNEL_USER) || pass != Some(KANNEL_PASS) {
        return text_answer(StatusCode::FORBIDDEN, "Authorization failed for sendsms");
    }
    let Some(to) = fields.get("to").map(str::to_owned) else {
        return text_answer(StatusCode::BAD_REQUEST, "Missing receiver number, rejected");
    };
    if to.is_empty() {
        return text_answer(
            StatusCode::BAD_REQUEST,
            "Empty receiver number not allowed, rejected",
        );
    }
    if !matches!(fields.get("coding"), None | Some("0" | "1" | "2")) {
        return text_answer(StatusCode::BAD_REQUEST, "Coding field misformed, rejected");
    }
    if fields
        .get("charset")
        .is_some_and(|c| !c.eq_ignore_ascii_case("UTF-8"))
    {
        return text_answer(
            StatusCode::BAD_REQUEST,
            "Charset or body misformed, rejected",
        );
    }
    match fake.outcome(&to) {
        Outcome::InvalidNumber => text_answer(
            StatusCode::BAD_REQUEST,
            "Number(s) has/have been denied by white- and/or black-lists.",
        ),
        Outcome::Throttle => text_answer(
            StatusCode::SERVICE_UNAVAILABLE,
            "Temporal failure, try again later.",
        ),
        Outcome::ServerError => text_answer(StatusCode::INTERNAL_SERVER_ERROR, "Sending failed."),
        Outcome::Send => {
            fake.accept(fields);
            text_answer(StatusCode::ACCEPTED, "0: Accepted for delivery")
        }
    }
}

async fn kannel(password: &str) -> (Fake, KannelSender) {
    let fake = Fake::default();
    let router = Router::new()
        .route("/cgi-bin/sendsms", get(kannel_sendsms))
        .with_state(fake.clone());
    let base = serve(router).await;
    let sender = KannelSender::new(
        client(),
        Some(&format!("{base}/cgi-bin/sendsms")),
        KANNEL_USER.into(),
        password.into(),
        Some("1708".into()),
        Some("modem-1".into()),
    )
    .expect("sender");
    (fake, sender)
}

#[tokio::test]
async fn kannel_sends_utf8_with_ucs2_coding_when_needed() {
    let (fake, sender) = kannel(KANNEL_PASS).await;
    let receipt = sender.send(&reply(NUMBER, EMOJI_TEXT)).await.expect("sent");
    assert_eq!(receipt.provider_message_id, None, "Kannel gives no id");
    let fields = fake.last();
    assert_eq!(
        fields.get("to"),
        Some(NUMBER),
        "the + survives URL-encoding"
    );
    assert_eq!(fields.get("text"), Some(EMOJI_TEXT));
    assert_eq!(fields.get("charset"), Some("UTF-8"));
    assert_eq!(fields.get("coding"), Some("2"));
    assert_eq!(fields.get("from"), Some("1708"));
    assert_eq!(fields.get("smsc"), Some("modem-1"));

    sender.send(&reply(NUMBER, GSM_TEXT)).await.expect("sent");
    let fields = fake.last();
    assert_eq!(fields.get("text"), Some(GSM_TEXT));
    assert_eq!(
        fields.get("coding"),
        None,
        "GSM-7 text keeps Kannel's 7-bit default"
    );
}

#[tokio::test]
async fn kannel_failures_are_transient_or_permanent() {
    let (_, sender) = kannel(KANNEL_PASS).await;
    assert_failures(&sender, &[KANNEL_PASS], None).await;
    let throttled = expect_transient(sender.send(&reply(THROTTLED, GSM_TEXT)).await);
    assert!(throttled.contains("503"), "{throttled}");
}

#[tokio::test]
async fn kannel_refuses_a_wrong_password_for_good() {
    let (_, sender) = kannel("wrong-pass").await;
    let refused = expect_permanent(sender.send(&reply(NUMBER, GSM_TEXT)).await);
    assert!(refused.contains("Authorization failed"), "{refused}");
    assert_clean(&refused, &["wrong-pass"]);
}

// --- SMS Gateway for Android (capcom6) ------------------------------------

const ANDROID_USER: &str = "sms";
const ANDROID_PASS: &str = "android-pass-0001";

fn capcom6_error(status: StatusCode, message: &str) -> Response {
    json_answer(status, json!({ "message": message }))
}

async fn capcom6_messages(State(fake): State<Fake>, headers: HeaderMap, body: Bytes) -> Response {
    if basic_auth(&headers) != Some((ANDROID_USER.into(), ANDROID_PASS.into())) {
        return capcom6_error(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    if !content_type_is(&headers, "application/json") {
        return capcom6_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Unsupported Media Type");
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return capcom6_error(StatusCode::BAD_REQUEST, "Invalid request body");
    };
    let text = request["textMessage"]["text"].as_str().unwrap_or_default();
    let numbers: Vec<&str> = request["phoneNumbers"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if text.is_empty() {
        return capcom6_error(
            StatusCode::BAD_REQUEST,
            "Must specify exactly one of: textMessage, dataMessage, or message",
        );
    }
    let [to] = numbers.as_slice() else {
        return capcom6_error(StatusCode::BAD_REQUEST, "Empty phone numbers list");
    };
    match fake.outcome(to) {
        Outcome::InvalidNumber => capcom6_error(
            StatusCode::BAD_REQUEST,
            "failed to enqueue message: failed to use phone in row 1: invalid phone number",
        ),
        Outcome::Throttle => {
            let mut answer = capcom6_error(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
            answer
                .headers_mut()
                .insert(header::RETRY_AFTER, "30".parse().expect("header"));
            answer
        }
        Outcome::ServerError => capcom6_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "Queue limits exceeded; ensure device is online",
        ),
        Outcome::Send => {
            let to = (*to).to_owned();
            fake.accept(Fields(vec![
                ("text".into(), text.to_owned()),
                ("phoneNumber".into(), to.clone()),
            ]));
            let mut answer = json_answer(
                StatusCode::ACCEPTED,
                json!({
                    "id": "PyDmBQZZXYmyxMwED8Fzy",
                    "deviceId": "ZmxQtKsWwXeTbSgRnDvJy",
                    "state": "Pending",
                    "isHashed": false,
                    "isEncrypted": false,
                    "recipients": [{"phoneNumber": to, "state": "Pending"}],
                    "states": {},
                }),
            );
            answer.headers_mut().insert(
                header::LOCATION,
                "/3rdparty/v1/messages/PyDmBQZZXYmyxMwED8Fzy"
                    .parse()
                    .expect("header"),
            );
            answer
        }
    }
}

/// A fake serving the cloud path and the local server's path.
async fn android(password: &str, cloud: bool) -> (Fake, AndroidSender) {
    let fake = Fake::default();
    let router = Router::new()
        .route("/3rdparty/v1/messages", post(capcom6_messages))
        .route("/messages", post(capcom6_messages))
        .with_state(fake.clone());
    let base = serve(router).await;
    let base = if cloud {
        format!("{base}/3rdparty/v1")
    } else {
        base
    };
    let sender = AndroidSender::new(client(), Some(&base), ANDROID_USER.into(), password.into())
        .expect("sender");
    (fake, sender)
}

#[tokio::test]
async fn android_queues_the_text_message_and_returns_its_id() {
    for cloud in [true, false] {
        let (fake, sender) = android(ANDROID_PASS, cloud).await;
        let receipt = sender.send(&reply(NUMBER, EMOJI_TEXT)).await.expect("sent");
        assert_eq!(
            receipt.provider_message_id.as_deref(),
            Some("PyDmBQZZXYmyxMwED8Fzy")
        );
        let fields = fake.last();
        assert_eq!(fields.get("text"), Some(EMOJI_TEXT));
        assert_eq!(fields.get("phoneNumber"), Some(NUMBER));
    }
}

#[tokio::test]
async fn android_failures_are_transient_or_permanent() {
    let (_, sender) = android(ANDROID_PASS, true).await;
    assert_failures(&sender, &[ANDROID_PASS], Some("30")).await;
    let invalid = expect_permanent(sender.send(&reply(INVALID, GSM_TEXT)).await);
    assert!(invalid.contains("invalid phone number"), "{invalid}");
}

#[tokio::test]
async fn android_refuses_a_wrong_password_for_good() {
    let (_, sender) = android("wrong-pass", false).await;
    let refused = expect_permanent(sender.send(&reply(NUMBER, GSM_TEXT)).await);
    assert!(refused.contains("401"), "{refused}");
    assert_clean(&refused, &["wrong-pass"]);
}

// --- Transport failures ---------------------------------------------------

#[tokio::test]
async fn an_unreachable_provider_is_transient() {
    // Bind then drop a listener: nothing answers on that port.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    drop(listener);
    let sender = KannelSender::new(
        client(),
        Some(&base),
        KANNEL_USER.into(),
        KANNEL_PASS.into(),
        None,
        None,
    )
    .expect("sender");
    let message = expect_transient(sender.send(&reply(NUMBER, GSM_TEXT)).await);
    assert!(message.contains("cannot connect"), "{message}");
    assert_clean(&message, &[KANNEL_PASS]);
}

#[tokio::test]
async fn a_silent_provider_times_out_as_transient() {
    let router = Router::new().route(
        "/messages",
        post(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            StatusCode::ACCEPTED
        }),
    );
    let base = serve(router).await;
    let impatient = http_client(Duration::from_millis(200)).expect("client");
    let sender = AndroidSender::new(
        impatient,
        Some(&base),
        ANDROID_USER.into(),
        ANDROID_PASS.into(),
    )
    .expect("sender");
    let message = expect_transient(sender.send(&reply(NUMBER, GSM_TEXT)).await);
    assert!(message.contains("timed out"), "{message}");
}

#[tokio::test]
async fn a_reply_to_another_channel_is_refused_before_any_call() {
    let sender = KannelSender::new(
        client(),
        None,
        KANNEL_USER.into(),
        KANNEL_PASS.into(),
        None,
        None,
    )
    .expect("sender");
    let mut to_telegram = reply(NUMBER, GSM_TEXT);
    to_telegram.to = "telegram:12345".into();
    expect_permanent(sender.send(&to_telegram).await);
}

// --- Gammu ----------------------------------------------------------------

/// A fresh directory for one test's scripts and records.
fn scratch(name: &str) -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let dir =
        std::env::temp_dir().join(format!("salur-send-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A shell script in `dir`, run as `/bin/sh <script> …` (so it needs no
/// execute bit).
fn script(dir: &std::path::Path, body: &str) -> String {
    let path = dir.join("inject.sh");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    path.to_string_lossy().into_owned()
}

fn command(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| (*p).to_owned()).collect()
}

#[tokio::test]
async fn gammu_runs_the_command_without_a_shell_and_reads_the_id() {
    let dir = scratch("gammu-ok");
    let record = dir.join("args");
    let inject = script(
        &dir,
        "out=\"$1\"; shift\nprintf '%s\\0' \"$@\" > \"$out\"\n\
         echo 'gammu-smsd-inject[1]: Created outbox message OUTC1'\n\
         echo 'Written message with ID 42'",
    );
    let record_path = record.to_string_lossy().into_owned();
    let sender = GammuSender::new(command(&[
        "/bin/sh",
        &inject,
        &record_path,
        "TEXT",
        "{to}",
        "-unicode",
        "-len",
        "{len}",
        "-text",
        "{text}",
    ]));
    // Quotes, $, backticks and {to} must reach the program as written.
    let text = "Laporan \"SLR-7K3Q-9XPA\" $HOME `id` {to} 🙏\nbaris dua";
    let receipt = sender.send(&reply(NUMBER, text)).await.expect("sent");
    assert_eq!(receipt.provider_message_id.as_deref(), Some("42"));

    let recorded = std::fs::read_to_string(&record).expect("recorded arguments");
    let arguments: Vec<&str> = recorded.trim_end_matches('\0').split('\0').collect();
    let len = text.chars().count().to_string();
    assert_eq!(
        arguments,
        [
            "TEXT",
            NUMBER,
            "-unicode",
            "-len",
            len.as_str(),
            "-text",
            text
        ]
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn gammu_command_failures_are_transient() {
    let dir = scratch("gammu-fail");
    let inject = script(
        &dir,
        "echo \"Error: modem not responding while sending to $2\" >&2\nexit 3",
    );
    let sender = GammuSender::new(command(&[
        "/bin/sh", &inject, "TEXT", "{to}", "-text", "{text}",
    ]));
    let message = expect_transient(sender.send(&reply(NUMBER, GSM_TEXT)).await);
    assert!(message.contains("modem not responding"), "{message}");
    assert!(message.contains('3'), "the exit status is shown: {message}");
    assert_clean(&message, &[]);

    // gammu-smsd-inject itself reports on stdout.
    let inject = script(
        &dir,
        "echo 'Failed to inject message: No such file'\nexit 2",
    );
    let sender = GammuSender::new(command(&["/bin/sh", &inject]));
    let message = expect_transient(sender.send(&reply(NUMBER, GSM_TEXT)).await);
    assert!(message.contains("Failed to inject message"), "{message}");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn gammu_commands_that_cannot_run_or_hang_are_transient() {
    let missing = GammuSender::new(command(&["/nonexistent/gammu-smsd-inject", "TEXT", "{to}"]));
    let message = expect_transient(missing.send(&reply(NUMBER, GSM_TEXT)).await);
    assert!(message.contains("cannot run"), "{message}");

    let empty = GammuSender::new(Vec::new());
    expect_transient(empty.send(&reply(NUMBER, GSM_TEXT)).await);

    let hanging = GammuSender::new(command(&["/bin/sh", "-c", "sleep 5"]))
        .with_timeout(Duration::from_millis(200));
    let message = expect_transient(hanging.send(&reply(NUMBER, GSM_TEXT)).await);
    assert!(message.contains("timed out"), "{message}");
}
