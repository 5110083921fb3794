//! Every fixture under `tests/fixtures/` read by the adapter, with what it
//! must give; the signature and handshake checks.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use salur_channel_whatsapp::{DeliveryState, Event, Events, Flag, MetaWebhook};
use salur_channels_core::signature::hmac_sha256_hex;
use salur_channels_core::{ChannelError, ChannelKind};

const SECRET: &[u8] = b"meta-app-secret";

fn webhook(kind: ChannelKind) -> MetaWebhook {
    MetaWebhook::new(kind, "wa-test".into(), SECRET.to_vec(), "verify-me".into()).expect("webhook")
}

fn fixture(name: &str) -> Bytes {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_764_400_500, 0).expect("time")
}

/// Signs, verifies and parses a fixture, as the webhook route does.
fn read(kind: ChannelKind, name: &str) -> Events {
    let body = fixture(name);
    let w = webhook(kind);
    let header = format!("sha256={}", hmac_sha256_hex(SECRET, &body));
    w.verify(&body, Some(&header)).expect("signature");
    w.parse(&body, now()).expect(name)
}

/// What one message must come out as.
struct Want {
    id: &'static str,
    handle: &'static str,
    text: &'static str,
    attachments: usize,
    located: bool,
    reply_to: Option<&'static str>,
    flag: Option<Flag>,
}

const fn want(id: &'static str, text: &'static str) -> Want {
    Want {
        id,
        handle: "whatsapp:6281234567890",
        text,
        attachments: 0,
        located: false,
        reply_to: None,
        flag: None,
    }
}

fn check(name: &str, got: &Event, want: &Want) {
    let m = &got.message;
    assert_eq!(m.provider_message_id, want.id, "{name}: id");
    assert_eq!(m.reporter.handle, want.handle, "{name}: handle");
    assert_eq!(m.text, want.text, "{name}: text");
    assert_eq!(m.attachments.len(), want.attachments, "{name}: attachments");
    assert_eq!(m.location.is_some(), want.located, "{name}: location");
    assert_eq!(m.reply_to.as_deref(), want.reply_to, "{name}: reply_to");
    assert_eq!(got.flag, want.flag, "{name}: flag");
    assert_eq!(m.channel_name, "wa-test", "{name}: channel");
    assert_eq!(
        &m.raw[..],
        &fixture(name)[..],
        "{name}: raw is the signed body"
    );
}

#[test]
fn every_whatsapp_message_type_is_read() {
    let ctx = |mut w: Want, to: &'static str| {
        w.reply_to = Some(to);
        w
    };
    let media = |mut w: Want| {
        w.attachments = 1;
        w
    };
    let flagged = |mut w: Want, f: Flag| {
        w.flag = Some(f);
        w
    };
    let cases: Vec<(&str, Vec<Want>)> = vec![
        (
            "wa_text",
            vec![want(
                "wamid.HBgNNjI4MTIzNDU2Nzg5MBUCABIYFjNFQjBDMEE1RjQ2RDFCRDg0QTAxAA==",
                "Lampu jalan di Jl. Merdeka mati sejak seminggu.",
            )],
        ),
        (
            "wa_reply_context",
            vec![ctx(
                want("wamid.ctx1", "Sudah dua minggu belum ada perbaikan."),
                "wamid.OURACK001",
            )],
        ),
        (
            "wa_image",
            vec![media(want("wamid.img1", "Jalan berlubang di depan SDN 3"))],
        ),
        ("wa_audio", vec![media(want("wamid.aud1", ""))]),
        (
            "wa_video",
            vec![media(want("wamid.vid1", "Banjir di Kelurahan Sukamaju"))],
        ),
        (
            "wa_document",
            vec![media(want("wamid.doc1", "Surat keterangan"))],
        ),
        ("wa_sticker", vec![media(want("wamid.stk1", ""))]),
        (
            "wa_location",
            vec![Want {
                located: true,
                ..want("wamid.loc1", "Pasar Genteng, Jl. Genteng Besar, Surabaya")
            }],
        ),
        (
            "wa_contacts",
            vec![want("wamid.con1", "Pak RT Budi: +62 812-9876-5432")],
        ),
        (
            "wa_interactive_button",
            vec![ctx(want("wamid.ibt1", "Kirim"), "wamid.OURQ001")],
        ),
        (
            "wa_interactive_list",
            vec![ctx(
                want("wamid.ils1", "Infrastruktur — Jalan, jembatan, lampu"),
                "wamid.OURQ002",
            )],
        ),
        (
            "wa_button",
            vec![ctx(want("wamid.btn1", "Cek status"), "wamid.OURTPL1")],
        ),
        (
            "wa_reaction",
            vec![ctx(want("wamid.rct1", "\u{1F44D}"), "wamid.OURACK001")],
        ),
        (
            "wa_system",
            vec![flagged(
                want(
                    "wamid.sys1",
                    "User A changed from 6281234567890 to 6281234567891",
                ),
                Flag::System,
            )],
        ),
        (
            "wa_unsupported",
            vec![flagged(
                want("wamid.uns1", "Message type unknown: Message type unknown"),
                Flag::Unsupported,
            )],
        ),
        (
            "wa_unknown_type",
            vec![
                flagged(want("wamid.unk1", ""), Flag::Unknown("hologram".into())),
                want("wamid.unk2", "Pesan setelah tipe baru tetap masuk."),
            ],
        ),
    ];
    for (name, wants) in &cases {
        let events = read(ChannelKind::Whatsapp, name);
        assert_eq!(events.messages.len(), wants.len(), "{name}: message count");
        assert!(events.statuses.is_empty(), "{name}: statuses");
        for (got, want) in events.messages.iter().zip(wants) {
            check(name, got, want);
            assert_eq!(got.account.as_deref(), Some("106540352242922"), "{name}");
            assert_eq!(got.message.reporter.name.as_deref(), Some("Siti Rahma"));
            assert_eq!(
                got.message.reporter.phone.as_deref(),
                Some("+6281234567890")
            );
            assert_eq!(
                got.message.sent_at,
                DateTime::from_timestamp(1_764_400_000, 0),
                "{name}: sent_at"
            );
        }
    }
}

#[test]
fn media_keeps_what_meta_says_of_the_file() {
    let events = read(ChannelKind::Whatsapp, "wa_document");
    let a = &events.messages[0].message.attachments[0];
    assert_eq!(a.provider_ref, "771234561234567");
    assert_eq!(a.mime.as_deref(), Some("application/pdf"));
    assert_eq!(a.filename.as_deref(), Some("surat_pengaduan.pdf"));
    assert_eq!(a.caption.as_deref(), Some("Surat keterangan"));
    assert_eq!(
        a.sha256.as_deref(),
        Some("c5d3e1f2a4b6c8d0e2f4a6b8c0d2e4f6a8b0c2d4e6f8a0b2c4d6e8f0a2b4c6d8")
    );
    let location = read(ChannelKind::Whatsapp, "wa_location").messages[0]
        .message
        .location
        .clone()
        .expect("location");
    assert_eq!((location.lat, location.lon), (-7.2504, 112.7688));
}

#[test]
fn a_batch_gives_every_message_of_every_change_with_its_number() {
    let events = read(ChannelKind::Whatsapp, "wa_batch_two_changes");
    let got: Vec<(&str, &str, Option<&str>, Option<&str>)> = events
        .messages
        .iter()
        .map(|e| {
            (
                e.message.provider_message_id.as_str(),
                e.message.reporter.handle.as_str(),
                e.message.reporter.name.as_deref(),
                e.account.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "wamid.b1",
                "whatsapp:6281234567890",
                Some("Siti Rahma"),
                Some("106540352242922")
            ),
            (
                "wamid.b2",
                "whatsapp:6285600000001",
                Some("Andi"),
                Some("106540352242922")
            ),
            (
                "wamid.b3",
                "whatsapp:6287700000002",
                Some("Dewi"),
                Some("106540352242999")
            ),
        ]
    );
}

#[test]
fn statuses_come_back_for_our_messages() {
    let events = read(ChannelKind::Whatsapp, "wa_status_only");
    assert!(events.messages.is_empty());
    let states: Vec<(&str, DeliveryState)> = events
        .statuses
        .iter()
        .map(|s| (s.provider_message_id.as_str(), s.state))
        .collect();
    assert_eq!(
        states,
        vec![
            ("wamid.OURACK001", DeliveryState::Sent),
            ("wamid.OURACK001", DeliveryState::Delivered),
            ("wamid.OURACK001", DeliveryState::Read),
            ("wamid.OURNOTE9", DeliveryState::Failed),
        ]
    );
    let failed = &events.statuses[3];
    assert_eq!(
        failed.errors,
        vec![(131_047, "Re-engagement message".into())]
    );
    assert_eq!(failed.recipient, "6281234567890");
    assert_eq!(
        failed.at,
        DateTime::from_timestamp(1_764_490_000, 0).expect("t")
    );
}

#[test]
fn a_message_without_an_id_is_kept_flagged_with_a_stable_key() {
    let first = read(ChannelKind::Whatsapp, "wa_no_id");
    let again = read(ChannelKind::Whatsapp, "wa_no_id");
    let (a, b) = (&first.messages[0], &again.messages[0]);
    assert!(a.message.provider_message_id.starts_with("sha256:"));
    assert_eq!(a.message.provider_message_id, b.message.provider_message_id);
    assert_eq!(a.flag, Some(Flag::Invalid("message without an id".into())));
    assert_eq!(a.message.text, "Tanpa id");
}

#[test]
fn a_duplicate_delivery_reads_the_same() {
    // Meta resends the same body; it must key the same way both times, so
    // the store's unique claim keeps one.
    assert_eq!(
        read(ChannelKind::Whatsapp, "wa_image"),
        read(ChannelKind::Whatsapp, "wa_image")
    );
}

#[test]
fn messenger_and_instagram_skip_echoes_and_key_on_mid() {
    let events = read(ChannelKind::Messenger, "messenger_with_echo");
    assert_eq!(events.echoes, 1);
    assert_eq!(events.messages.len(), 2);
    check(
        "messenger_with_echo",
        &events.messages[0],
        &Want {
            handle: "messenger:7001234567890123",
            attachments: 1,
            ..want("m_AbCdEf123", "Sampah menumpuk di pasar")
        },
    );
    // A tap on one of our buttons arrives as a postback: its title is the
    // answer.
    check(
        "messenger_with_echo",
        &events.messages[1],
        &Want {
            handle: "messenger:7001234567890123",
            ..want("m_Postback01", "Kirim aduan")
        },
    );
    assert_eq!(
        events.messages[0].account.as_deref(),
        Some("111222333444555")
    );
    assert_eq!(
        events.messages[0].message.sent_at,
        DateTime::from_timestamp_millis(1_764_400_000_100)
    );
    assert_eq!(events.statuses.len(), 1, "the delivery callback");
    assert_eq!(events.statuses[0].provider_message_id, "m_Echo999");

    let events = read(ChannelKind::Instagram, "instagram_with_echo");
    assert_eq!(events.echoes, 1);
    assert_eq!(events.messages.len(), 1);
    check(
        "instagram_with_echo",
        &events.messages[0],
        &Want {
            handle: "instagram:9876543210987654",
            reply_to: Some("aWdfZAG1faWQ6OUR"),
            ..want("aWdfZAG1faWQ6MTIz", "Trotoar rusak dekat alun-alun")
        },
    );
}

#[test]
fn a_body_for_another_kind_or_not_json_is_refused() {
    let wa = webhook(ChannelKind::Whatsapp);
    let page = fixture("messenger_with_echo");
    let err = wa.parse(&page, now()).expect_err("page body on WhatsApp");
    assert!(err.to_string().contains("object `page`"), "{err}");
    let err = wa
        .parse(&Bytes::from_static(b"{\"entry\":"), now())
        .expect_err("cut JSON");
    assert!(matches!(err, ChannelError::Malformed(_)), "{err}");
    let err = wa
        .parse(&Bytes::from_static(b"{\"entry\":[]}"), now())
        .expect_err("no object");
    assert_eq!(err, ChannelError::MissingField("object".into()));
}

#[test]
fn signatures_are_checked_over_the_raw_bytes() {
    let w = webhook(ChannelKind::Whatsapp);
    let body = fixture("wa_text");
    let good = format!("sha256={}", hmac_sha256_hex(SECRET, &body));
    assert_eq!(w.verify(&body, Some(&good)), Ok(()));
    assert_eq!(w.verify(&body, None), Err(ChannelError::MissingSignature));
    assert_eq!(
        w.verify(&body, Some("")),
        Err(ChannelError::MissingSignature)
    );
    let wrong_key = format!("sha256={}", hmac_sha256_hex(b"other secret", &body));
    assert_eq!(
        w.verify(&body, Some(&wrong_key)),
        Err(ChannelError::BadSignature)
    );
    assert_eq!(
        w.verify(&body, Some(&good["sha256=".len()..])),
        Err(ChannelError::BadSignature),
        "Meta always sends the prefix"
    );

    // The same JSON re-ordered (and re-spaced) after signing is other bytes:
    // it must fail, whatever a JSON comparison would say.
    let value: serde_json::Value = serde_json::from_slice(&body).expect("json");
    let mut reordered = serde_json::Map::new();
    let object = value.as_object().expect("object");
    for key in object.keys().rev() {
        reordered.insert(key.clone(), object[key].clone());
    }
    let reordered = serde_json::to_vec(&reordered).expect("json");
    assert_ne!(reordered, body.to_vec());
    assert_eq!(
        w.verify(&reordered, Some(&good)),
        Err(ChannelError::BadSignature)
    );
}

#[test]
fn the_handshake_echoes_the_challenge_only_for_our_token() {
    let w = webhook(ChannelKind::Whatsapp);
    assert_eq!(
        w.handshake("hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444"),
        Ok("1158201444".into())
    );
    assert_eq!(
        w.handshake("hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1"),
        Err(ChannelError::BadSignature)
    );
    assert_eq!(
        w.handshake("hub.mode=subscribe&hub.challenge=1"),
        Err(ChannelError::MissingSignature)
    );
    assert_eq!(
        w.handshake("hub.mode=unsubscribe&hub.verify_token=verify-me&hub.challenge=1"),
        Err(ChannelError::BadSignature)
    );
    assert_eq!(
        w.handshake("hub.mode=subscribe&hub.verify_token=verify-me"),
        Err(ChannelError::MissingField("hub.challenge".into()))
    );
}

#[test]
fn only_meta_kinds_with_their_secrets_are_built() {
    let sms = MetaWebhook::new(ChannelKind::Sms, "x".into(), b"s".to_vec(), "t".into());
    assert!(sms.is_err());
    let no_secret = MetaWebhook::new(ChannelKind::Whatsapp, "x".into(), Vec::new(), "t".into());
    assert_eq!(
        no_secret.err(),
        Some(ChannelError::MissingField("app_secret".into()))
    );
    let no_token = MetaWebhook::new(
        ChannelKind::Whatsapp,
        "x".into(),
        b"s".to_vec(),
        String::new(),
    );
    assert_eq!(
        no_token.err(),
        Some(ChannelError::MissingField("verify_token".into()))
    );
}

#[test]
fn damaged_bodies_give_an_error_or_events_never_a_panic() {
    let names = [
        "wa_batch_two_changes",
        "wa_status_only",
        "wa_contacts",
        "wa_location",
        "messenger_with_echo",
        "instagram_with_echo",
    ];
    let mut read_back = 0;
    for name in names {
        let body = fixture(name);
        for kind in [
            ChannelKind::Whatsapp,
            ChannelKind::Messenger,
            ChannelKind::Instagram,
        ] {
            let w = webhook(kind);
            for cut in 0..body.len() {
                // Cut short, and with one byte overwritten.
                let short = body.slice(..cut);
                let mut bent = body.to_vec();
                bent[cut] = b"\"{}[],:0x\\"[cut % 10];
                for damaged in [short, Bytes::from(bent)] {
                    if let Ok(events) = w.parse(&damaged, now()) {
                        read_back += events.messages.len() + events.statuses.len();
                    }
                }
            }
        }
    }
    assert!(read_back > 0, "some overwritten bodies are still readable");
}
