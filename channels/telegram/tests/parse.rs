//! Every fixture under `tests/fixtures/` read by the adapter, with what it
//! must give; the webhook's secret check.
//!
//! The fixtures follow the Bot API's documented `Update` shapes: a private
//! chat with Siti (user and chat id 5512345678, language `id`) and our bot
//! `@salur_bot`, plus a supergroup, a channel, and the broken ones.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use salur_channel_telegram::update::RAW_CONTENT_TYPE;
use salur_channel_telegram::{Parsed, TelegramWebhook, parse_update, update_id};
use salur_channels_core::{
    ChannelError, ChannelKind, Control, InboundMessage, PushChannel, PushRequest,
};

const SITI: &str = "telegram:5512345678";
const CHAT: &str = "5512345678";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_764_402_500, 0).expect("time")
}

fn parse(name: &str, allow_groups: bool) -> Result<Parsed, ChannelError> {
    parse_update("tg-test", &fixture(name), allow_groups, now())
}

/// What one message must come out as.
struct Want {
    id: String,
    handle: &'static str,
    name: Option<&'static str>,
    phone: Option<&'static str>,
    text: &'static str,
    /// File id and stated size of each attachment.
    attachments: Vec<(&'static str, Option<u64>)>,
    location: Option<(f64, f64, Option<&'static str>)>,
    reply_to: Option<String>,
    replaces: Option<String>,
    control: Option<Control>,
    /// The flag starts with this.
    flag: Option<&'static str>,
    language: Option<&'static str>,
    sent_at: Option<i64>,
}

/// A message from Siti in her private chat with the bot.
fn siti(message_id: u32, sent_at: i64, text: &'static str) -> Want {
    Want {
        id: format!("{CHAT}:{message_id}"),
        handle: SITI,
        name: Some("Siti Rahma"),
        phone: None,
        text,
        attachments: Vec::new(),
        location: None,
        reply_to: None,
        replaces: None,
        control: None,
        flag: None,
        language: Some("id"),
        sent_at: Some(sent_at),
    }
}

fn command(name: &str, args: &str) -> Option<Control> {
    Some(Control::Command {
        name: name.into(),
        args: args.into(),
    })
}

enum Outcome {
    Message(Box<Want>),
    /// Ignored, with a reason containing this.
    Ignored(&'static str),
    Malformed,
}

fn message(w: Want) -> Outcome {
    Outcome::Message(Box::new(w))
}

fn check(name: &str, m: &InboundMessage, want: &Want) {
    assert_eq!(m.channel, ChannelKind::Telegram, "{name}: channel");
    assert_eq!(m.channel_name, "tg-test", "{name}: channel name");
    assert_eq!(m.provider_message_id, want.id, "{name}: id");
    assert_eq!(m.reporter.handle, want.handle, "{name}: handle");
    assert_eq!(m.reporter.name.as_deref(), want.name, "{name}: name");
    assert_eq!(m.reporter.phone.as_deref(), want.phone, "{name}: phone");
    assert_eq!(m.text, want.text, "{name}: text");
    let files: Vec<_> = m
        .attachments
        .iter()
        .map(|a| (a.provider_ref.as_str(), a.size))
        .collect();
    assert_eq!(files, want.attachments, "{name}: attachments");
    let location = m
        .location
        .as_ref()
        .map(|l| (l.lat, l.lon, l.address.as_deref()));
    assert_eq!(location, want.location, "{name}: location");
    assert_eq!(m.reply_to, want.reply_to, "{name}: reply_to");
    assert_eq!(m.replaces, want.replaces, "{name}: replaces");
    assert_eq!(m.control, want.control, "{name}: control");
    match (&m.flag, want.flag) {
        (None, None) => {}
        (Some(got), Some(start)) => assert!(got.starts_with(start), "{name}: flag `{got}`"),
        (got, want) => panic!("{name}: flag {got:?}, want one starting with {want:?}"),
    }
    assert_eq!(m.language.as_deref(), want.language, "{name}: language");
    assert_eq!(
        m.sent_at,
        want.sent_at.and_then(|t| DateTime::from_timestamp(t, 0)),
        "{name}: sent_at"
    );
    assert_eq!(m.received_at, now(), "{name}: received_at");
    assert!(m.part.is_none(), "{name}: part");
    assert_eq!(
        &m.raw[..],
        &fixture(name)[..],
        "{name}: raw is the update as given"
    );
    assert_eq!(
        m.raw_content_type, RAW_CONTENT_TYPE,
        "{name}: raw content type"
    );
}

#[test]
fn every_fixture_is_read() {
    let cases: Vec<(&str, bool, Outcome)> = vec![
        (
            "text",
            false,
            message(siti(
                101,
                1_764_400_000,
                "Lampu jalan di Jl. Merdeka No. 12 mati sejak seminggu, mohon diperbaiki.",
            )),
        ),
        (
            "text_en",
            false,
            message(Want {
                handle: "telegram:6623456789",
                name: Some("Daniel"),
                language: Some("en"),
                ..siti(
                    7,
                    1_764_400_060,
                    "The traffic light at Simpang Lima has been broken since Monday \u{1F6A6}",
                )
            })
            .with_id("6623456789:7"),
        ),
        (
            "command_start",
            false,
            message(Want {
                control: command("start", ""),
                ..siti(1, 1_764_399_000, "/start")
            }),
        ),
        (
            "command_status",
            false,
            message(Want {
                control: command("status", "SLR-7K3Q-9XPA"),
                ..siti(140, 1_764_486_400, "/status SLR-7K3Q-9XPA")
            }),
        ),
        (
            "command_status_botname",
            false,
            message(Want {
                control: command("status", "SLR-7K3Q-9XPA"),
                ..siti(141, 1_764_486_460, "/Status@salur_bot   SLR-7K3Q-9XPA ")
            }),
        ),
        (
            "photo_caption",
            false,
            message(Want {
                attachments: vec![(
                    "AgACAgUAAxkBAAIBZmdQx1sAAT3mN2kqXr8AAQHZ9wABPgACTsIxG4kOgVZAAQADAgADeQADNgQ",
                    Some(131_072),
                )],
                ..siti(
                    102,
                    1_764_400_120,
                    "Jalan berlubang di depan SDN 3 Sukamaju, sudah dua motor jatuh.",
                )
            }),
        ),
        (
            "album_1",
            false,
            message(Want {
                attachments: vec![(
                    "AgACAgUAAxkBAAIBaAmdQyQABc2Fsb3JfYWxidW0AAgADeQADNgQ",
                    Some(98_304),
                )],
                ..siti(
                    103,
                    1_764_400_200,
                    "Tumpukan sampah di pinggir Sungai Cikapundung, tiga hari tidak diangkut",
                )
            }),
        ),
        (
            "album_2",
            false,
            message(Want {
                attachments: vec![(
                    "AgACAgUAAxkBAAIBbBmdQyQABc2Fsb3JfYWxidW0AAgADeQADNgQ",
                    Some(101_377),
                )],
                ..siti(104, 1_764_400_200, "")
            }),
        ),
        (
            // Two sizes of the same area: the later one is kept.
            "album_3",
            false,
            message(Want {
                attachments: vec![(
                    "AgACAgUAAxkBAAIBcCmdQyQABc2Fsb3JfYWxidW0AAgADeAADNgQ",
                    Some(90_112),
                )],
                ..siti(105, 1_764_400_201, "")
            }),
        ),
        (
            "document_pdf",
            false,
            message(Want {
                attachments: vec![(
                    "BQACAgUAAxkBAAIBamdQygABc2FsdXJfcGRmAAJ3DwACiQ6BVkQ0AAEeNgQ",
                    Some(245_760),
                )],
                ..siti(106, 1_764_400_300, "Surat keterangan dari RT 05")
            }),
        ),
        (
            "voice",
            false,
            message(Want {
                attachments: vec![(
                    "AwACAgUAAxkBAAIBa2dQywABc2FsdXJfdm9pY2UAAngPAAKJDoFWAAEeNgQ",
                    Some(28_431),
                )],
                ..siti(107, 1_764_400_400, "")
            }),
        ),
        (
            "video",
            false,
            message(Want {
                attachments: vec![(
                    "BAACAgUAAxkBAAIBbGdQzAABc2FsdXJfdmlkZW8AAnkPAAKJDoFWAAEeNgQ",
                    Some(5_242_880),
                )],
                ..siti(
                    108,
                    1_764_400_500,
                    "Banjir setinggi lutut di Kelurahan Sukamaju",
                )
            }),
        ),
        (
            "location",
            false,
            message(Want {
                location: Some((-6.914_744, 107.609_81, None)),
                ..siti(109, 1_764_400_600, "")
            }),
        ),
        (
            "venue",
            false,
            message(Want {
                location: Some((
                    -7.2575,
                    112.7521,
                    Some("Pasar Genteng, Jl. Genteng Besar, Surabaya"),
                )),
                ..siti(110, 1_764_400_700, "")
            }),
        ),
        (
            "contact_own",
            false,
            message(Want {
                control: Some(Control::Contact),
                phone: Some("6281234567890"),
                ..siti(111, 1_764_400_800, "")
            }),
        ),
        (
            "contact_other",
            false,
            message(siti(
                112,
                1_764_400_900,
                "Kontak: Pak RT Budi +62 812-9876-5432",
            )),
        ),
        (
            "callback_query",
            false,
            message(Want {
                id: "cb:2367591234567890123".into(),
                control: Some(Control::Button {
                    data: "cat:infrastruktur".into(),
                    callback_id: "2367591234567890123".into(),
                    message_id: Some(format!("{CHAT}:206")),
                }),
                sent_at: None,
                ..siti(0, 0, "")
            }),
        ),
        (
            "edited_message",
            false,
            message(Want {
                id: format!("{CHAT}:101:e880000018"),
                replaces: Some(format!("{CHAT}:101")),
                ..siti(
                    101,
                    1_764_400_000,
                    "Lampu jalan di Jl. Merdeka No. 14 mati sejak seminggu, mohon diperbaiki.",
                )
            }),
        ),
        (
            "reply",
            false,
            message(Want {
                reply_to: Some(format!("{CHAT}:205")),
                ..siti(113, 1_764_487_000, "Sudah dua minggu belum ada perbaikan.")
            }),
        ),
        ("group", false, Outcome::Ignored("groups are not enabled")),
        (
            "group",
            true,
            message(siti(
                5521,
                1_764_401_100,
                "Got di gang 3 mampet lagi, air masuk ke rumah warga.",
            ))
            .with_id("-1001234567890:5521"),
        ),
        (
            "group_member_joined",
            true,
            Outcome::Ignored("service message: members joined"),
        ),
        ("channel_post", false, Outcome::Ignored("channel post")),
        ("channel_post", true, Outcome::Ignored("channel post")),
        (
            "sticker",
            false,
            message(Want {
                flag: Some("unsupported Telegram message: sticker"),
                ..siti(114, 1_764_401_400, "")
            }),
        ),
        (
            "dice",
            false,
            message(Want {
                flag: Some("unsupported Telegram message: dice"),
                ..siti(115, 1_764_401_500, "")
            }),
        ),
        (
            "pinned_private",
            false,
            Outcome::Ignored("service message: a message was pinned"),
        ),
        ("my_chat_member", false, Outcome::Ignored("membership")),
        (
            "callback_without_data",
            false,
            Outcome::Ignored("without data"),
        ),
        (
            // `chat` is required: teloxide cannot read the message, which is
            // kept, flagged, with what the JSON itself says.
            "message_without_chat",
            false,
            message(Want {
                id: "update:880000027".into(),
                flag: Some("unreadable Telegram update: `message`: missing field `chat`"),
                ..siti(0, 1_764_401_800, "Halo, apakah aduan saya sudah diproses?")
            }),
        ),
        (
            "unknown_kind",
            false,
            message(Want {
                id: "update:880000028".into(),
                flag: Some("unreadable Telegram update: `guest_message`"),
                ..siti(0, 1_764_402_000, "Pesan dari jenis pembaruan baru")
            }),
        ),
        (
            // `mime_type` is optional in the Bot API but required by
            // teloxide, which then reads the message as empty: the file is
            // still found in the JSON.
            "voice_without_mime",
            false,
            message(Want {
                attachments: vec![(
                    "AwACAgUAAxkBAAIBeWdQ3gABc2FsdXJfdm9pY2UyAAJ6DwACiQ6BVgABHjYE",
                    Some(19_876),
                )],
                flag: Some("unreadable Telegram message: voice"),
                ..siti(121, 1_764_402_100, "")
            }),
        ),
        ("no_update_id", false, Outcome::Malformed),
        ("not_json", false, Outcome::Malformed),
        ("truncated", false, Outcome::Malformed),
    ];
    let fixtures = std::fs::read_dir(format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR")))
        .expect("fixtures")
        .count();
    let covered: std::collections::BTreeSet<_> = cases.iter().map(|(name, ..)| *name).collect();
    assert_eq!(covered.len(), fixtures, "every fixture has a case");

    for (name, allow_groups, outcome) in &cases {
        let got = parse(name, *allow_groups);
        match (got, outcome) {
            (Ok(Parsed::Message(m)), Outcome::Message(want)) => check(name, &m, want),
            (Ok(Parsed::Ignored { update_id, reason }), Outcome::Ignored(why)) => {
                assert!(reason.contains(why), "{name}: reason `{reason}`");
                assert_eq!(
                    Some(update_id),
                    salur_channel_telegram::update_id(&fixture(name)),
                    "{name}: update id"
                );
            }
            (Err(ChannelError::Malformed(_)), Outcome::Malformed) => {}
            (got, _) => panic!("{name} (groups {allow_groups}): unexpected {got:?}"),
        }
    }
}

impl Outcome {
    fn with_id(mut self, id: &str) -> Self {
        if let Self::Message(w) = &mut self {
            w.id = id.into();
        }
        self
    }
}

#[test]
fn attachments_keep_what_telegram_states() {
    let m = parse("document_pdf", false)
        .expect("document")
        .into_message()
        .expect("message");
    let a = &m.attachments[0];
    assert_eq!(a.mime.as_deref(), Some("application/pdf"));
    assert_eq!(a.filename.as_deref(), Some("surat_pengaduan_RT05.pdf"));
    assert_eq!(a.caption.as_deref(), Some("Surat keterangan dari RT 05"));
    assert_eq!(a.sha256, None);

    let m = parse("photo_caption", false)
        .expect("photo")
        .into_message()
        .expect("message");
    let a = &m.attachments[0];
    assert_eq!(a.mime.as_deref(), Some("image/jpeg"));
    assert_eq!(a.filename, None);
    assert_eq!(
        a.caption.as_deref(),
        Some("Jalan berlubang di depan SDN 3 Sukamaju, sudah dua motor jatuh.")
    );

    let voice = parse("voice", false)
        .expect("voice")
        .into_message()
        .expect("message");
    assert_eq!(voice.attachments[0].mime.as_deref(), Some("audio/ogg"));
    assert_eq!(voice.attachments[0].caption, None);

    let video = parse("video", false)
        .expect("video")
        .into_message()
        .expect("message");
    assert_eq!(video.attachments[0].mime.as_deref(), Some("video/mp4"));
    assert_eq!(
        video.attachments[0].filename.as_deref(),
        Some("VID_20251129_101500.mp4")
    );
}

#[test]
fn update_ids_are_read_alone() {
    assert_eq!(update_id(&fixture("text")), Some(880_000_001));
    assert_eq!(
        update_id(&fixture("message_without_chat")),
        Some(880_000_027)
    );
    assert_eq!(update_id(&fixture("no_update_id")), None);
    assert_eq!(update_id(&fixture("not_json")), None);
    assert_eq!(update_id(br#"{"update_id":"12"}"#), None);
}

#[test]
fn odd_ids_and_values_do_not_break_parsing() {
    // Beyond teloxide's u32 update id: kept, flagged.
    let raw = br#"{"update_id":5000000000,"message":{"message_id":1,"from":{"id":5512345678,"is_bot":false,"first_name":"Siti"},"chat":{"id":5512345678,"first_name":"Siti","type":"private"},"date":1764400000,"text":"halo"}}"#;
    let m = parse_update("tg-test", raw, false, now())
        .expect("parsed")
        .into_message()
        .expect("message");
    assert_eq!(m.provider_message_id, "update:5000000000");
    assert_eq!(m.reporter.handle, SITI);
    assert_eq!(m.text, "halo");
    assert!(m.flag.is_some());

    for raw in [
        &br#"[1,2]"#[..],
        br#"{"update_id":1.5,"message":{}}"#,
        br#"{"update_id":null}"#,
        b"",
    ] {
        assert!(
            matches!(
                parse_update("tg-test", raw, false, now()),
                Err(ChannelError::Malformed(_))
            ),
            "{}",
            String::from_utf8_lossy(raw)
        );
    }
    let empty = parse_update("tg-test", br#"{"update_id":9}"#, false, now()).expect("empty");
    assert!(
        matches!(empty, Parsed::Ignored { update_id: 9, .. }),
        "{empty:?}"
    );

    // A location out of range is kept, flagged.
    let raw = br#"{"update_id":10,"message":{"message_id":3,"from":{"id":5512345678,"is_bot":false,"first_name":"Siti"},"chat":{"id":5512345678,"first_name":"Siti","type":"private"},"date":1764400000,"location":{"latitude":95.0,"longitude":10.0}}}"#;
    let m = parse_update("tg-test", raw, false, now())
        .expect("parsed")
        .into_message()
        .expect("message");
    assert!(m.location.is_none());
    assert!(
        m.flag
            .as_deref()
            .is_some_and(|f| f.starts_with("unreadable Telegram location")),
        "{:?}",
        m.flag
    );
}

fn request(body: &[u8], secret: Option<&str>) -> PushRequest {
    PushRequest {
        method: "POST".into(),
        url: "https://salur.example.go.id/hooks/telegram/tg-test".into(),
        query: None,
        headers: secret
            .map(|s| vec![("x-telegram-bot-api-secret-token".into(), s.into())])
            .unwrap_or_default(),
        body: Bytes::copy_from_slice(body),
    }
}

#[test]
fn the_secret_token_is_checked() {
    let hook = TelegramWebhook::new("tg-test".into(), Some(b"s3cr3t-T0ken_x".to_vec()), false);
    let body = fixture("text");
    assert_eq!(hook.kind(), ChannelKind::Telegram);

    let verified = hook
        .verify(request(&body, Some("s3cr3t-T0ken_x")))
        .expect("good secret");
    let messages = hook.parse(&verified).expect("parsed");
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].provider_message_id, format!("{CHAT}:101"));
    assert_eq!(&messages[0].raw[..], &body[..]);

    let err = hook
        .verify(request(&body, Some("s3cr3t-T0ken_y")))
        .expect_err("bad secret");
    assert_eq!(err, ChannelError::BadSignature);
    let err = hook.verify(request(&body, None)).expect_err("no header");
    assert_eq!(err, ChannelError::MissingSignature);
    let err = hook
        .verify(request(&body, Some("")))
        .expect_err("empty header");
    assert_eq!(err, ChannelError::MissingSignature);

    // The operator allowed unsigned requests.
    let open = TelegramWebhook::new("tg-test".into(), None, false);
    let verified = open.verify(request(&body, None)).expect("unsigned");
    assert_eq!(open.parse(&verified).expect("parsed").len(), 1);
    let verified = open
        .verify(request(&body, Some("anything")))
        .expect("any header");
    assert_eq!(open.parse(&verified).expect("parsed").len(), 1);
}

#[test]
fn the_webhook_passes_ignored_and_broken_updates_on() {
    let hook = TelegramWebhook::new("tg-test".into(), Some(b"k".to_vec()), false);
    let verified = hook
        .verify(request(&fixture("my_chat_member"), Some("k")))
        .expect("secret");
    assert!(hook.parse(&verified).expect("ignored").is_empty());

    let verified = hook
        .verify(request(&fixture("not_json"), Some("k")))
        .expect("secret");
    assert!(matches!(
        hook.parse(&verified),
        Err(ChannelError::Malformed(_))
    ));

    let answer = hook.answer(&[]);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.content_type, "application/json");
    assert_eq!(answer.body, "{}");

    let parsed = hook
        .parse_raw(&fixture("callback_query"), now())
        .expect("callback");
    assert!(matches!(parsed, Parsed::Message(m) if m.provider_message_id.starts_with("cb:")));
}
