//! Table-driven tests of the inbound SMS adapters against recorded requests.
//!
//! Every `tests/fixtures/<provider>/<case>.json` is one request as the
//! provider sends it (method, URL with query, headers, and a body file next
//! to it) with the outcome it must have: the messages it becomes, or the
//! error. `tests/fixtures/README.md` describes the format and how the
//! signatures in it were computed.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use salur_channel_sms::africastalking::AfricasTalkingSms;
use salur_channel_sms::android::{self, AndroidSms};
use salur_channel_sms::kannel::KannelSms;
use salur_channel_sms::smssync::SmsSync;
use salur_channel_sms::twilio::TwilioSms;
use salur_channel_sms::vonage::{self, VonageSms};
use salur_channels_core::{
    ChannelError, InboundMessage, IntakeReceipt, PushChannel, PushRequest, Result, Verified,
};
use serde::Deserialize;

const PROVIDERS: [&str; 6] = [
    "twilio",
    "vonage",
    "africastalking",
    "kannel",
    "android",
    "smssync",
];

/// One recorded request and what it must become.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// What the case shows (documentation only).
    #[allow(dead_code)]
    about: String,
    #[serde(default)]
    config: Config,
    /// The clock, in unix seconds, for adapters that check timestamps.
    now: Option<i64>,
    request: Request,
    /// How many times the request is delivered (a replay when above 1).
    #[serde(default = "one")]
    repeat: usize,
    expect: Expect,
}

fn one() -> usize {
    1
}

/// The channel's settings.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Config {
    secret: Option<String>,
    method: Option<String>,
    max_skew_secs: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    method: String,
    url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// A file next to the case holding the raw body.
    body: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Expect {
    Messages {
        messages: Vec<ExpectedMessage>,
        answer: Option<ExpectedAnswer>,
    },
    Error {
        error: String,
        field: Option<String>,
    },
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct ExpectedMessage {
    provider_message_id: String,
    handle: String,
    phone: String,
    text: String,
    /// RFC 3339, or `now` for providers that give no time.
    received_at: String,
    sent_at: Option<String>,
    part: Option<ExpectedPart>,
    #[serde(default)]
    attachments: Vec<ExpectedAttachment>,
    /// The stored payload: `@body`, `@query` or the exact text.
    raw: Option<String>,
    raw_content_type: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct ExpectedPart {
    group: String,
    index: u16,
    total: u16,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct ExpectedAttachment {
    provider_ref: String,
    mime: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedAnswer {
    status: u16,
    content_type: String,
    body: String,
}

/// An adapter as the service would build it from the case's config.
enum Adapter {
    Twilio(TwilioSms),
    Vonage(VonageSms),
    AfricasTalking(AfricasTalkingSms),
    Kannel(KannelSms),
    Android(AndroidSms),
    SmsSync(SmsSync),
}

impl Adapter {
    fn new(provider: &str, config: &Config) -> Self {
        let name = format!("{provider}-utama");
        let secret = config.secret.as_ref().map(|s| s.as_bytes().to_vec());
        let skew = |default| config.max_skew_secs.map_or(default, Duration::from_secs);
        match provider {
            "twilio" => Self::Twilio(TwilioSms::new(name, secret)),
            "vonage" => {
                let method = config.method.as_deref().unwrap_or("md5hash");
                let method = method.parse().expect("signature method");
                Self::Vonage(VonageSms::new(
                    name,
                    secret,
                    method,
                    skew(vonage::DEFAULT_MAX_SKEW),
                ))
            }
            "africastalking" => Self::AfricasTalking(AfricasTalkingSms::new(name, secret)),
            "kannel" => Self::Kannel(KannelSms::new(name, secret)),
            "android" => Self::Android(AndroidSms::new(
                name,
                secret,
                skew(android::DEFAULT_MAX_SKEW),
            )),
            "smssync" => Self::SmsSync(SmsSync::new(name, secret)),
            other => panic!("no adapter for {other}"),
        }
    }

    fn channel(&self) -> &dyn PushChannel {
        match self {
            Self::Twilio(a) => a,
            Self::Vonage(a) => a,
            Self::AfricasTalking(a) => a,
            Self::Kannel(a) => a,
            Self::Android(a) => a,
            Self::SmsSync(a) => a,
        }
    }

    fn verify(&self, request: PushRequest, now: DateTime<Utc>) -> Result<Verified<PushRequest>> {
        match self {
            Self::Vonage(a) => a.verify_at(request, now),
            Self::Android(a) => a.verify_at(request, now),
            other => other.channel().verify(request),
        }
    }

    fn receive(&self, request: PushRequest, now: DateTime<Utc>) -> Result<Vec<InboundMessage>> {
        let verified = self.verify(request, now)?;
        self.channel().parse(&verified)
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The `.json` cases of one provider, by name.
fn cases(provider: &str) -> Vec<(String, PathBuf)> {
    let dir = fixtures().join(provider);
    let mut cases: Vec<(String, PathBuf)> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let name = path
                .file_stem()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            (name, path)
        })
        .collect();
    cases.sort();
    cases
}

fn build_request(request: &Request, dir: &Path) -> PushRequest {
    let body = match &request.body {
        Some(file) => fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}")),
        None => Vec::new(),
    };
    PushRequest {
        method: request.method.clone(),
        url: request.url.clone(),
        query: request.url.split_once('?').map(|(_, q)| q.to_owned()),
        headers: request
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect(),
        body: Bytes::from(body),
    }
}

fn error_name(error: &ChannelError) -> (&'static str, Option<&str>) {
    match error {
        ChannelError::MissingSignature => ("MissingSignature", None),
        ChannelError::BadSignature => ("BadSignature", None),
        ChannelError::Stale => ("Stale", None),
        ChannelError::Malformed(_) => ("Malformed", None),
        ChannelError::MissingField(field) => ("MissingField", Some(field)),
        ChannelError::InvalidField { field, .. } => ("InvalidField", Some(field)),
        ChannelError::Transient(_) => ("Transient", None),
        ChannelError::RetryAfter(_) => ("RetryAfter", None),
        ChannelError::Permanent(_) => ("Permanent", None),
    }
}

fn time(value: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value)
        .unwrap_or_else(|e| panic!("{value}: {e}"))
        .with_timezone(&Utc)
}

/// Differences between a message and its expectation.
fn compare(
    got: &InboundMessage,
    want: &ExpectedMessage,
    request: &PushRequest,
    window: (DateTime<Utc>, DateTime<Utc>),
) -> Vec<String> {
    let mut diffs = Vec::new();
    let mut check = |what: &str, same: bool, got: String| {
        if !same {
            diffs.push(format!("{what}: got {got}"));
        }
    };
    check(
        "provider_message_id",
        got.provider_message_id == want.provider_message_id,
        got.provider_message_id.clone(),
    );
    check(
        "channel",
        got.channel == salur_channels_core::ChannelKind::Sms,
        got.channel.to_string(),
    );
    check(
        "handle",
        got.reporter.handle == want.handle,
        got.reporter.handle.clone(),
    );
    check(
        "phone",
        got.reporter.phone.as_deref() == Some(&want.phone),
        format!("{:?}", got.reporter.phone),
    );
    check("text", got.text == want.text, format!("{:?}", got.text));
    let received_ok = match want.received_at.as_str() {
        "now" => window.0 <= got.received_at && got.received_at <= window.1,
        at => got.received_at == time(at),
    };
    check("received_at", received_ok, got.received_at.to_rfc3339());
    check(
        "sent_at",
        got.sent_at == want.sent_at.as_deref().map(time),
        format!("{:?}", got.sent_at),
    );
    let part = got
        .part
        .as_ref()
        .map(|p| (p.group.as_str(), p.index, p.total));
    let want_part = want
        .part
        .as_ref()
        .map(|p| (p.group.as_str(), p.index, p.total));
    check("part", part == want_part, format!("{part:?}"));
    let attachments: Vec<(&str, Option<&str>)> = got
        .attachments
        .iter()
        .map(|a| (a.provider_ref.as_str(), a.mime.as_deref()))
        .collect();
    let want_attachments: Vec<(&str, Option<&str>)> = want
        .attachments
        .iter()
        .map(|a| (a.provider_ref.as_str(), a.mime.as_deref()))
        .collect();
    check(
        "attachments",
        attachments == want_attachments,
        format!("{attachments:?}"),
    );
    if let Some(raw) = &want.raw {
        let want_raw: &[u8] = match raw.as_str() {
            "@body" => &request.body,
            "@query" => request.query.as_deref().unwrap_or_default().as_bytes(),
            literal => literal.as_bytes(),
        };
        check(
            "raw",
            &got.raw[..] == want_raw,
            String::from_utf8_lossy(&got.raw).into_owned(),
        );
    }
    if let Some(content_type) = &want.raw_content_type {
        check(
            "raw_content_type",
            &got.raw_content_type == content_type,
            got.raw_content_type.clone(),
        );
    }
    diffs
}

/// Runs one case; returns what went wrong.
fn run(provider: &str, path: &Path) -> Vec<String> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let case: Case =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let adapter = Adapter::new(provider, &case.config);
    let request = build_request(&case.request, path.parent().expect("fixture directory"));
    let before = Utc::now();
    let now = case
        .now
        .map_or(before, |s| DateTime::from_timestamp(s, 0).expect("now"));
    let outcomes: Vec<_> = (0..case.repeat)
        .map(|_| adapter.receive(request.clone(), now))
        .collect();
    let window = (before, Utc::now());
    let mut problems = Vec::new();
    for (delivery, outcome) in outcomes.iter().enumerate() {
        let label = format!("delivery {}", delivery + 1);
        match (&case.expect, outcome) {
            (Expect::Messages { messages, .. }, Ok(got)) => {
                if got.len() != messages.len() {
                    problems.push(format!(
                        "{label}: {} messages, expected {}",
                        got.len(),
                        messages.len()
                    ));
                }
                for (i, (g, w)) in got.iter().zip(messages).enumerate() {
                    for diff in compare(g, w, &request, window) {
                        problems.push(format!("{label}, message {i}: {diff}"));
                    }
                }
            }
            (Expect::Error { error, field }, Err(e)) => {
                let (name, got_field) = error_name(e);
                if name != error || got_field != field.as_deref() {
                    problems.push(format!("{label}: got {e:?}, expected {error} {field:?}"));
                }
            }
            (_, Ok(got)) => problems.push(format!("{label}: expected an error, got {got:?}")),
            (_, Err(e)) => problems.push(format!("{label}: unexpected error {e:?}")),
        }
    }
    let ids: Vec<Vec<&str>> = outcomes
        .iter()
        .filter_map(|o| o.as_ref().ok())
        .map(|messages| {
            messages
                .iter()
                .map(|m| m.provider_message_id.as_str())
                .collect()
        })
        .collect();
    if ids.windows(2).any(|pair| pair[0] != pair[1]) {
        problems.push(format!("replays gave different provider ids: {ids:?}"));
    }
    if let (
        Expect::Messages {
            answer: Some(want), ..
        },
        Some(Ok(got)),
    ) = (&case.expect, outcomes.first())
    {
        let receipts: Vec<IntakeReceipt> = got
            .iter()
            .enumerate()
            .map(|(i, _)| IntakeReceipt {
                message_id: format!("msg_{i}"),
                complaint_id: None,
                tracking_code: Some("SLR-7K3Q-9XPA".into()),
                replay: false,
            })
            .collect();
        let answer = adapter.channel().answer(&receipts);
        if (answer.status, answer.content_type, answer.body.as_str())
            != (want.status, want.content_type.as_str(), want.body.as_str())
        {
            problems.push(format!("answer: got {answer:?}"));
        }
    }
    problems
}

#[test]
fn recorded_requests_give_the_recorded_outcomes() {
    let mut failures = Vec::new();
    let mut count = 0;
    for provider in PROVIDERS {
        for (name, path) in cases(provider) {
            count += 1;
            for problem in run(provider, &path) {
                failures.push(format!("{provider}/{name}: {problem}"));
            }
        }
    }
    assert!(
        count >= 80,
        "only {count} cases found under {}",
        fixtures().display()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_provider_has_the_required_cases() {
    let common = [
        "good_",
        "bad_s",
        "missing_s",
        "replay",
        "ucs2_emoji",
        "empty_",
        "missing_",
    ];
    let extra: BTreeMap<&str, Vec<&str>> = BTreeMap::from([
        (
            "vonage",
            vec![
                "stale_timestamp",
                "concat_part_1_of_3",
                "concat_part_2_of_3",
                "concat_part_3_of_3",
            ],
        ),
        ("android", vec!["stale_timestamp"]),
        ("kannel", vec!["ucs2_emoji_get", "ucs2_emoji_post"]),
    ]);
    for provider in PROVIDERS {
        let names: Vec<String> = cases(provider).into_iter().map(|(name, _)| name).collect();
        let wanted = common
            .iter()
            .chain(extra.get(provider).into_iter().flatten());
        for prefix in wanted {
            assert!(
                names.iter().any(|n| n.starts_with(prefix)),
                "{provider} has no `{prefix}…` case (has {names:?})"
            );
        }
    }
}

#[test]
fn unsigned_channels_accept_requests_without_secrets() {
    // `allow_unsigned = true`: no check at all, even for a request that
    // carries a wrong secret.
    let dir = fixtures().join("africastalking");
    let text = fs::read_to_string(dir.join("bad_secret.json")).expect("case");
    let case: Case = serde_json::from_str(&text).expect("case");
    let adapter = Adapter::new("africastalking", &Config::default());
    let messages = adapter
        .receive(build_request(&case.request, &dir), Utc::now())
        .expect("unsigned channel");
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0].provider_message_id,
        "ec9adc86-51d5-4bc8-8eb0-d8ab0bb53dc3"
    );
}
