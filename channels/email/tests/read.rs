//! Every mail under `tests/fixtures/` read by [`MailReader`], with what it
//! must give; attachments found again by their reference; reading twice
//! gives the same message; junk never panics.
//!
//! The fixtures were written for this project: citizens of an example
//! regency writing to its complaint desk `aduan@example-kab.go.id`, whose
//! acknowledgements carry Message-IDs `@salur.example-kab.go.id`, and
//! agencies (`*.example-kab.go.id`) forwarding citizens' mail to it. Each
//! case's comment says what the fixture is about and, for the ugly ones,
//! what was decided. Mail from Outlook, Exchange and MTAs has CRLF line
//! endings as on the wire, the rest LF (`.gitattributes` keeps both).

use chrono::{DateTime, Utc};
use salur_channel_email::read::{
    Decision, MailReader, RAW_CONTENT_TYPE, attachment, decision, tracking_code,
};
use salur_channels_core::{ChannelKind, InboundMessage};
use sha2::{Digest, Sha256};

const OWN_ADDRESS: &str = "Aduan@Example-Kab.go.id";
const OWN_DOMAIN: &str = "salur.example-kab.go.id";
/// The size limit a media fetcher might apply; `huge_attachment` is over it.
const LIMIT: u64 = 1024 * 1024;

fn reader() -> MailReader {
    MailReader::new(
        "email-test".into(),
        vec![OWN_ADDRESS.to_lowercase()],
        vec![OWN_DOMAIN.into()],
    )
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}.eml", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn fixture_names() -> Vec<String> {
    let dir = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            Some(name.strip_suffix(".eml")?.to_owned())
        })
        .collect();
    names.sort();
    names
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_762_900_000, 0).expect("time")
}

fn read(name: &str) -> InboundMessage {
    reader().read(&fixture(name), now())
}

/// How the provider id must look.
enum Id {
    /// The Message-ID, brackets removed.
    Exact(&'static str),
    /// `sha256:` and the hex sha256 of the raw bytes.
    Hash,
}

/// What one fixture must give.
struct Want {
    decision: Decision,
    handle: &'static str,
    name: Option<&'static str>,
    forwarded_by: Option<&'static str>,
    /// Substrings the text must contain.
    has: &'static [&'static str],
    /// Substrings the text must not contain (quotes, notes, markup).
    lacks: &'static [&'static str],
    subject: Option<&'static str>,
    attachments: usize,
    /// A file name among the attachments.
    filename: Option<&'static str>,
    no_reply: bool,
    id: Id,
    bounce: Option<(&'static str, &'static str)>,
    /// The ignore reason contains this.
    ignore: Option<&'static str>,
    /// RFC 3339, checked when given.
    sent_at: Option<&'static str>,
    reply_to: Option<&'static str>,
    /// The first (nearest) reference.
    reference: Option<&'static str>,
}

/// A new complaint from `handle` with Message-ID `id`.
fn complaint(handle: &'static str, id: &'static str, has: &'static [&'static str]) -> Want {
    Want {
        decision: Decision::Complaint,
        handle,
        name: None,
        forwarded_by: None,
        has,
        lacks: &[],
        subject: None,
        attachments: 0,
        filename: None,
        no_reply: false,
        id: Id::Exact(id),
        bounce: None,
        ignore: None,
        sent_at: None,
        reply_to: None,
        reference: None,
    }
}

/// `want` with another decision.
fn as_(decision: Decision, want: Want) -> Want {
    Want { decision, ..want }
}

fn check(name: &str, m: &InboundMessage, w: &Want) {
    assert_eq!(decision(m), w.decision, "{name}: decision ({m:#?})");
    assert_eq!(m.channel, ChannelKind::Email, "{name}: channel");
    assert_eq!(m.channel_name, "email-test", "{name}: channel name");
    assert_eq!(&m.raw[..], &fixture(name)[..], "{name}: raw");
    assert_eq!(m.raw_content_type, RAW_CONTENT_TYPE, "{name}: raw type");
    assert_eq!(m.received_at, now(), "{name}: received_at");
    assert!(
        m.location.is_none()
            && m.part.is_none()
            && m.control.is_none()
            && m.replaces.is_none()
            && m.language.is_none(),
        "{name}: fields email never sets"
    );
    assert_eq!(m.reporter.handle, w.handle, "{name}: reporter");
    if w.handle != "email:unknown" {
        assert_eq!(
            m.reporter
                .email
                .as_deref()
                .map(str::to_lowercase)
                .as_deref(),
            w.handle.strip_prefix("email:"),
            "{name}: reporter email"
        );
    }
    if let Some(n) = w.name {
        assert_eq!(m.reporter.name.as_deref(), Some(n), "{name}: reporter name");
    }
    assert_eq!(
        m.forwarded_by.as_ref().map(|f| f.handle.as_str()),
        w.forwarded_by,
        "{name}: forwarded_by"
    );
    assert!(
        !w.lacks.is_empty() || w.has.is_empty(),
        "{name}: say what the text must not contain"
    );
    assert!(!m.text.contains('\r'), "{name}: line endings");
    for s in w.has {
        assert!(m.text.contains(s), "{name}: text lacks {s:?}:\n{}", m.text);
    }
    for s in w.lacks {
        assert!(!m.text.contains(s), "{name}: text has {s:?}:\n{}", m.text);
    }
    if w.has.is_empty() {
        assert_eq!(m.text, "", "{name}: text");
    }
    assert_eq!(m.text, m.text.trim(), "{name}: text is trimmed");
    assert_eq!(m.subject.as_deref(), w.subject, "{name}: subject");
    assert_eq!(m.attachments.len(), w.attachments, "{name}: attachments");
    if let Some(f) = w.filename {
        assert!(
            m.attachments
                .iter()
                .any(|a| a.filename.as_deref() == Some(f)),
            "{name}: no attachment named {f:?}: {:#?}",
            m.attachments
        );
    }
    assert_eq!(
        m.no_reply.is_some(),
        w.no_reply,
        "{name}: no_reply {:?}",
        m.no_reply
    );
    match w.id {
        Id::Exact(id) => assert_eq!(m.provider_message_id, id, "{name}: id"),
        Id::Hash => assert_eq!(
            m.provider_message_id,
            format!("sha256:{}", hex::encode(Sha256::digest(fixture(name)))),
            "{name}: id"
        ),
    }
    assert_eq!(
        m.bounce
            .as_ref()
            .map(|b| (b.of.as_str(), b.reason.as_str())),
        w.bounce,
        "{name}: bounce"
    );
    match (&m.ignore, w.ignore) {
        (Some(got), Some(want)) => assert!(got.contains(want), "{name}: ignore {got:?}"),
        (None, None) => {}
        (got, _) if w.decision != Decision::Ignore => {
            assert!(got.is_none(), "{name}: ignore {got:?}");
        }
        _ => {}
    }
    if let Some(t) = w.sent_at {
        assert_eq!(
            m.sent_at.map(|d| d.to_rfc3339()),
            DateTime::parse_from_rfc3339(t).ok().map(|d| d.to_rfc3339()),
            "{name}: sent_at"
        );
    }
    assert_eq!(m.reply_to.as_deref(), w.reply_to, "{name}: reply_to");
    assert_eq!(
        m.references.first().map(String::as_str),
        w.reference,
        "{name}: references"
    );
    for a in &m.attachments {
        assert!(
            a.provider_ref
                .starts_with(&format!("{}#", m.provider_message_id)),
            "{name}: {}",
            a.provider_ref
        );
        assert!(a.sha256.as_ref().is_some_and(|h| h.len() == 64), "{name}");
        assert!(a.caption.is_none(), "{name}: caption");
    }
}

const BUDI: &str = "email:budi.santoso1987@gmail.com";
const ACK_BUDI: &str = "ack.01JC8X2M7Q3V5B7N9P1R3T5W7Y@salur.example-kab.go.id";

#[allow(clippy::too_many_lines)]
fn cases() -> Vec<(&'static str, Want)> {
    vec![
        // --- Plain complaints, charsets and encodings -----------------------
        (
            "plain_gmail",
            Want {
                lacks: &["Content-Type", "Return-Path"],
                name: Some("Budi Santoso"),
                subject: Some("Jalan berlubang di Jl. Diponegoro depan SDN 2"),
                sent_at: Some("2025-11-03T01:14:05Z"),
                // A new complaint keeps its signature: it is how the citizen
                // says where they live.
                ..complaint(
                    BUDI,
                    "CAJx7Lq2mHf0pQ8vN3kR5tY9wZ1aB4cD6eF8gH0iJ2kL4mN6oP@mail.gmail.com",
                    &["jalan berlubang di Jl. Diponegoro", "RT 03/RW 05"],
                )
            },
        ),
        (
            // ISO-8859-1, quoted-printable body; RFC 2047 Q name in Latin-1.
            "latin1",
            Want {
                lacks: &["=E9", "\u{fffd}"],
                name: Some("André Wijaya"),
                subject: Some("Lampu PJU mati di Jl. Ahmad Yani"),
                ..complaint(
                    "email:andre.wijaya@example-mail.co.id",
                    "20251104060158.7F2A1C0045@smtp.example-mail.co.id",
                    &["depan Café Santé", "± 10 hari", "suhu 24°", "André Wijaya"],
                )
            },
        ),
        (
            // Windows-1252, 8bit: curly quotes, en dash, ellipsis, bullet.
            "windows1252",
            Want {
                lacks: &["\u{fffd}", "\u{93}"],
                subject: Some("Sampah menumpuk di TPS Pasar Baru"),
                ..complaint(
                    "email:siti.aminah.rt07@example-mail.co.id",
                    "000a01dc4d3b$8e2c1f40$aa845dc0$@example-mail.co.id",
                    &[
                        "sudah \u{201c}menggunung\u{201d} \u{2013} lebih",
                        "ke kelurahan\u{2026} tapi",
                        "Siti Aminah \u{2022} Ketua RT 07",
                    ],
                )
            },
        ),
        (
            // Windows-1258 (Vietnamese: tone marks are combining characters
            // in this charset, and stay so; the service normalises).
            "windows1258",
            Want {
                lacks: &["\u{fffd}"],
                name: Some("Nguy\u{ea}\u{303}n Thi\u{323} Lan"),
                subject: Some("Banjir di Perum Bumi Indah Blok F"),
                ..complaint(
                    "email:lan.nguyen@example-mail.vn",
                    "5f1e2a9c.8b7d.4c3e@example-mail.vn",
                    &[
                        "Saya Nguy\u{ea}\u{303}n Thi\u{323} Lan",
                        "banjir setinggi 50 cm",
                        "Ca\u{309}m \u{1a1}n",
                    ],
                )
            },
        ),
        (
            // UTF-8 quoted-printable with soft line breaks, an emoji and a
            // no-break space.
            "utf8_qp",
            Want {
                lacks: &["=\n", "=E2", "=C2"],
                name: Some("Rina Wulandari"),
                subject: Some("Air PDAM mati 3 hari di Perum Griya Asri"),
                sent_at: Some("2025-11-03T12:40:44Z"),
                ..complaint(
                    "email:rina.wulandari@yahoo.co.id",
                    "1183402711.2297845.1762173644012@mail.yahoo.com",
                    &[
                        "mati total \u{2014} sama sekali tidak mengalir",
                        "membeli air galon \u{1f61e}.",
                        "Rp\u{a0}185.000",
                    ],
                )
            },
        ),
        (
            "utf8_base64",
            Want {
                lacks: &["U2VsYW1hdCBwYWdp"],
                subject: Some("Atap kelas SDN 5 Cibeureum bocor"),
                ..complaint(
                    "email:dewi.lestari.ortu@gmail.com",
                    "CAHk9pZr8Xw2nQ4tM6vB1cY3dE5fG7hJ9kL1mN3oP5qR7sT9u@mail.gmail.com",
                    &["Atap ruang kelas 4 di SD Negeri 5 Cibeureum bocor parah"],
                )
            },
        ),
        (
            // RFC 2047 Q subject folded over two encoded words, Q name.
            "subject_q",
            Want {
                lacks: &["=?"],
                name: Some("Hendra Kurniawan (Pak RW)"),
                subject: Some("Pohon tumbang menutup jalan \u{2013} Jl. Sudirman dekat Puskesmas"),
                ..complaint(
                    "email:hendra.kurniawan@gmail.com",
                    "CAM3xPq7yT2vR9nL4kW8jH1gF5dS3aZ6xC0vB2nM4qW6eR8tY@mail.gmail.com",
                    &["pohon mahoni tumbang"],
                )
            },
        ),
        (
            // RFC 2047 B subject split mid-character over two words.
            "subject_b",
            Want {
                lacks: &["=?"],
                name: Some("Yuliani Putri"),
                subject: Some(
                    "Saluran drainase mampet \u{2014} air meluap ke jalan di Kompleks Guru",
                ),
                ..complaint(
                    "email:yuliani.putri@yahoo.co.id",
                    "882134110.3318721.1762398310451@mail.yahoo.com",
                    &["Kompleks Guru Blok A mampet total"],
                )
            },
        ),
        (
            // A broken encoded-word (bad base64) stays as written; the word
            // in an unknown charset is read as UTF-8.
            "subject_broken_word",
            Want {
                lacks: &["=?"],
                subject: Some("=?UTF-8?B?TGFtcHUgbWF0aSBkaSBn*YW5nIDQ?= RT 02"),
                ..complaint(
                    "email:agus.salim77@example-mail.co.id",
                    "d41c8a2e-97b3-4f0a-bb51-2c7e0f4d9a10@example-mail.co.id",
                    &["gang 4 RT 02 mati"],
                )
            },
        ),
        // --- Attachments -----------------------------------------------------
        (
            // RFC 2047 file name (in both `name` and `filename`).
            "filename_rfc2047",
            Want {
                lacks: &["iVBOR", "Content-Disposition"],
                subject: Some("Trotoar rusak di depan Pasar Kliwon"),
                attachments: 1,
                filename: Some("trotoar ambles \u{2013} Pasar Kliwon.png"),
                ..complaint(
                    "email:fajar.nugroho@gmail.com",
                    "CAN8yRt5uI2oP4aS6dF8gH0jK2lZ4xC6vB8nM0qW2eR4tY6uI@mail.gmail.com",
                    &["paving-nya lepas"],
                )
            },
        ),
        (
            // RFC 2231 file name with continuations; format=flowed text
            // joined (the lines ended in a space).
            "filename_rfc2231",
            Want {
                lacks: &["JVBERi", "filename", "patah. \n"],
                subject: Some("Permohonan perbaikan jembatan gantung Desa Sukarame"),
                attachments: 1,
                filename: Some("Surat pengantar RT 04 \u{2013} jembatan Sukarame.pdf"),
                ..complaint(
                    "email:wahyu.hidayat@example-mail.co.id",
                    "6f3b0c1a-52e8-4d2c-9a7e-0b1d4e8f2c55@example-mail.co.id",
                    &["papan lantainya banyak yang patah. Anak sekolah tiap hari melintas."],
                )
            },
        ),
        (
            // A broken encoded file name falls back to the raw text; the
            // mail is read as usual.
            "filename_broken",
            Want {
                lacks: &["iVBOR"],
                subject: Some("Kabel listrik menjuntai di Gg. Mawar"),
                attachments: 1,
                filename: Some("=?utf-8?B?a2FiZWwgbWVuanVudGFpIEdnLiBNYXdhcg*?=.png"),
                ..complaint(
                    "email:lina.marlina@yahoo.co.id",
                    "1920384756.4411223.1762553405123@mail.yahoo.com",
                    &["Kabel listrik menjuntai rendah"],
                )
            },
        ),
        (
            // multipart/related: the cid: image is an attachment, the text
            // comes from text/plain.
            "inline_image_cid",
            Want {
                lacks: &["<div", "cid:", "iVBOR"],
                subject: Some("Genangan air di underpass Jl. Veteran"),
                attachments: 1,
                filename: Some("underpass.png"),
                ..complaint(
                    "email:taufik.rahman@gmail.com",
                    "CAP2zTr6yU3iO5pA7sD9fG1hJ3kL5zX7cV9bN1mQ3wE5rT7yU@mail.gmail.com",
                    &["tergenang setinggi betis", "Mohon segera dicek."],
                )
            },
        ),
        (
            // Only a photo: empty text, empty subject.
            "attachment_only",
            Want {
                lacks: &["iVBOR"],
                attachments: 1,
                filename: Some("IMG_20251108_161455.png"),
                ..complaint(
                    "email:rudi.hartono.88@gmail.com",
                    "CAQ4aBs7cD9eF1gH3iJ5kL7mN9oP1qR3sT5uV7wX9yZ1aB3cD@mail.gmail.com",
                    &[],
                )
            },
        ),
        (
            // "Huge": 1.1 MB decoded, over the 1 MiB limit a test fetcher
            // applies (see `huge_attachment_is_over_the_limit`). A real
            // 16 MiB+ part would bloat the repository.
            "huge_attachment",
            Want {
                lacks: &["JVBERi"],
                subject: Some("Berkas aduan warga: irigasi Bendung Cisomang jebol"),
                attachments: 1,
                filename: Some("scan-aduan-irigasi.pdf"),
                ..complaint(
                    "email:kantor@desa-sukamukti.example.id",
                    "20251110090000.51a2b3@desa-sukamukti.example.id",
                    &["jebolnya saluran irigasi Bendung Cisomang"],
                )
            },
        ),
        (
            // A saved mail attached as evidence, without a forward prefix or
            // a word of forwarding: an attachment, not a forward.
            "attached_eml_evidence",
            Want {
                lacks: &["Yth. Pelanggan"],
                subject: Some("Janji PDAM 3 hari, sudah 8 hari air tidak mengalir"),
                attachments: 1,
                filename: Some("jadwal-gilir-pdam.eml"),
                ..complaint(
                    "email:yusuf.maulana@gmail.com",
                    "CAG5hI7jK9lM1nO3pQ5rS7tU9vW1xY3zA5bC7dE9fG1hI3jK@mail.gmail.com",
                    &["sudah 8 hari air di Cimanggu tidak mengalir"],
                )
            },
        ),
        // --- HTML --------------------------------------------------------------
        (
            // HTML only: paragraphs, an ordered list, a table, entities; no
            // style, script, title or comment.
            "html_only",
            Want {
                lacks: &[
                    "<",
                    "&nbsp;",
                    "&quot;",
                    "margin",
                    "tracking",
                    "converted from rtf",
                    "Aduan\n",
                ],
                subject: Some("Puskesmas Sukamaju: antrean & pelayanan"),
                ..complaint(
                    "email:nurul.hidayah@outlook.co.id",
                    "TYZPR04MB6321A0B1C2D3E4F5A6B7C8D9E0F1@TYZPR04MB6321.apcprd04.prod.outlook.com",
                    &[
                        "Yth. Dinas Kesehatan,\n\nSaya ingin menyampaikan",
                        "Kamis, 6 November 2025:\n\n1. Antrean dibuka jam 07.00",
                        "\n2. Nomor antrean \"online\" tidak dipakai \u{2013} semua",
                        "\n3. Ruang tunggu panas, kipas angin rusak & tidak ada air minum.",
                        "4 jam.\nMohon perbaikan.",
                        "Nama: Nurul Hidayah\nAlamat: Jl. Melati No. 7, Sukamaju",
                        "Hormat saya,\nNurul Hidayah",
                    ],
                )
            },
        ),
        // --- Forwards ----------------------------------------------------------
        (
            // Gmail, English.
            "fwd_gmail_en",
            Want {
                name: Some("Daniel Hutapea"),
                forwarded_by: Some("email:bidang.lalin@dishub.example-kab.go.id"),
                lacks: &["Please register", "Forwarded message", "From:"],
                subject: Some("Traffic light broken at Simpang Tugu"),
                sent_at: Some("2025-11-03T12:12:00Z"),
                ..complaint(
                    "email:daniel.hutapea@gmail.com",
                    "CAK2Lm9pQ4rS6tU8vW0xY2zA4bC6dE8fG0hI2jK4lM6nO8pQ@mail.gmail.com",
                    &[
                        "Good evening,\n\nThe traffic light at Simpang Tugu",
                        "Daniel Hutapea",
                    ],
                )
            },
        ),
        (
            // Gmail, Indonesian (`Pesan terusan`, `pukul 19.12`).
            "fwd_gmail_id",
            Want {
                name: Some("Slamet Riyadi"),
                forwarded_by: Some("email:sekretariat@kec-sukamaju.example-kab.go.id"),
                lacks: &["Mohon diregistrasi", "Pesan terusan", "Dari:"],
                subject: Some("Lampu lalu lintas mati di perempatan Tugu"),
                sent_at: Some("2025-11-03T12:12:00Z"),
                ..complaint(
                    "email:slamet.riyadi62@gmail.com",
                    "CAF7nB2vC4xZ6aS8dF0gH2jK4lQ6wE8rT0yU2iO4pA6sD8fG@mail.gmail.com",
                    &[
                        "Lampu lalu lintas di perempatan Tugu mati total",
                        "diperbaiki dan sementara",
                    ],
                )
            },
        ),
        (
            // Outlook, English, sent through Exchange Online: its Date is in
            // UTC, so the forwarded `Sent: … 8:15 AM` (no zone) would read
            // as later than the forward itself and is not trusted; sent_at
            // stays the forward's date.
            "fwd_outlook_en",
            Want {
                name: Some("Joko Susilo"),
                forwarded_by: Some("email:binamarga@dinaspu.example-kab.go.id"),
                lacks: &["Forwarding for registration", "Sent:", "______"],
                subject: Some("Village road badly damaged in Cikadu"),
                sent_at: Some("2025-11-04T02:31:44Z"),
                ..complaint(
                    "email:joko.susilo@yahoo.co.id",
                    "SG2PR06MB5310A1B2C3D4E5F60718293A4B5CA@SG2PR06MB5310.apcprd06.prod.outlook.com",
                    &["Dear Sir/Madam,\n\nThe village road from Cikadu"],
                )
            },
        ),
        (
            // Outlook, Indonesian (`TR:`, `Dari:`/`Dikirim:`), Latin-1 QP
            // text with an HTML alternative; `Dikirim` read in the
            // forward's zone.
            "fwd_outlook_id",
            Want {
                name: Some("Ratna Sari"),
                forwarded_by: Some("email:umum@kel-sukajadi.example-kab.go.id"),
                lacks: &["Diteruskan untuk", "Dikirim:", "Subbag Umum"],
                subject: Some("Pipa PDAM bocor di Jl. Kenanga"),
                sent_at: Some("2025-11-05T01:47:00Z"),
                ..complaint(
                    "email:ratna.sari.kenanga@gmail.com",
                    "KL1PR0601MB4451C0FFEE1234567890ABCDEF01@KL1PR0601MB4451.apcprd06.prod.outlook.com",
                    &["Pipa PDAM di depan rumah no. 14 Jl. Kenanga bocor"],
                )
            },
        ),
        (
            // Thunderbird, English, format=flowed. Thunderbird threads the
            // forward on the citizen's mail (In-Reply-To, References): that
            // is the forwarder's thread, not the citizen's, so it is left
            // out and the forward is a new complaint.
            "fwd_thunderbird_en",
            Want {
                name: Some("Maria Gunawan"),
                forwarded_by: Some("email:kebersihan@dlh.example-kab.go.id"),
                lacks: &["For your records", "Forwarded Message"],
                subject: Some("Garbage not collected in Perumahan Taman Sari"),
                sent_at: Some("2025-11-04T11:30:12Z"),
                ..complaint(
                    "email:maria.gunawan@example-mail.co.id",
                    "8a7c0e2f-4d1b-4b9e-a6f3-2e5d7c9b1a03@dlh.example-kab.go.id",
                    &["for 9 days. Bins are overflowing and stray dogs"],
                )
            },
        ),
        (
            // Thunderbird, Indonesian, HTML only: the header table becomes
            // `Subjek:`/`Tanggal:`/`Dari:` lines; the list reads as one.
            "fwd_thunderbird_id",
            Want {
                name: Some("Irawati Siregar"),
                forwarded_by: Some("email:pengaduan@disdik.example-kab.go.id"),
                lacks: &["Mohon dicatat", "Pesan Terusan", "<"],
                subject: Some("Pungutan seragam di SMPN 3"),
                sent_at: Some("2025-11-05T13:14:33Z"),
                ..complaint(
                    "email:irawati.siregar@yahoo.co.id",
                    "3e9f1a7b-2c4d-4f6e-8a0b-c1d2e3f4a5b6@disdik.example-kab.go.id",
                    &[
                        "Rp 850.000 & \"uang gedung\" Rp 1.500.000",
                        "Rinciannya:\n\n- seragam batik & olahraga\n- uang gedung\n- buku LKS \u{2013} 6 mata pelajaran",
                    ],
                )
            },
        ),
        (
            // Gmail forward of an Outlook forward: the innermost sender.
            "fwd_double",
            Want {
                name: Some("Wawan Setiawan"),
                forwarded_by: Some("email:tu@kec-cibeureum.example-kab.go.id"),
                lacks: &["Kami teruskan", "Diteruskan dari kelurahan", "From:"],
                subject: Some("Jembatan Kali Bening retak"),
                sent_at: Some("2025-11-06T00:02:00Z"),
                ..complaint(
                    "email:wawan.setiawan.kb@gmail.com",
                    "CAB3cD5eF7gH9iJ1kL3mN5oP7qR9sT1uV3wX5yZ7aB9cD1eF@mail.gmail.com",
                    &[
                        "Jembatan di atas Kali Bening (RW 09) retak",
                        "Wawan Setiawan\nRW 09",
                    ],
                )
            },
        ),
        (
            // An attached message/rfc822 under a one-line note: the citizen's
            // mail is read, with its photo.
            "fwd_attached_rfc822",
            Want {
                name: Some("Ahmad Fauzi"),
                forwarded_by: Some("email:sda@dinaspu.example-kab.go.id"),
                lacks: &["Diteruskan, mohon", "Bidang SDA"],
                subject: Some("Saluran irigasi jebol, sawah kebanjiran"),
                attachments: 1,
                filename: Some("tanggul_jebol.png"),
                sent_at: Some("2025-11-05T14:48:10Z"),
                ..complaint(
                    "email:ahmad.fauzi.cibeber@gmail.com",
                    "b7c6d5e4-f3a2-4b1c-9d8e-7f6a5b4c3d2e@dinaspu.example-kab.go.id",
                    &[
                        "Tanggul saluran irigasi sekunder",
                        "Ketua Kelompok Tani Sri Makmur",
                    ],
                )
            },
        ),
        (
            // The forwarded `From:` names no address: the agency stays the
            // reporter, not forwarded, with the whole mail as text.
            "fwd_unparseable_from",
            Want {
                lacks: &["Content-Type"],
                subject: Some("Anjing liar di taman kota"),
                ..complaint(
                    "email:pelayanan@kel-sukamaju.example-kab.go.id",
                    "PS2PR03MB39876A5B4C3D2E1F0A9B8C7D6E5F4@PS2PR03MB3987.apcprd03.prod.outlook.com",
                    &["lewat loket", "From: Suryani", "enam anjing liar"],
                )
            },
        ),
        (
            // A message/rfc822 part sent base64-encoded (which RFC 2046
            // forbids, and Exchange does), with no note at all and the
            // Indonesian `Trs:` prefix.
            "fwd_attached_base64",
            Want {
                name: Some("Sri Mulyani"),
                forwarded_by: Some("email:sekdes@desa-cikadu.example.id"),
                lacks: &["From:", "Content-Transfer-Encoding"],
                subject: Some("Pupuk bersubsidi tidak sampai ke kelompok tani"),
                sent_at: Some("2025-11-07T23:10:00Z"),
                ..complaint(
                    "email:sri.mulyani.tani@yahoo.co.id",
                    "20251110103000.trs.4411@desa-cikadu.example.id",
                    &["Kelompok Tani\nHarapan Jaya"],
                )
            },
        ),
        (
            // An Exchange inbox rule forwarding everything, marked
            // `Auto-Submitted: auto-generated`: the citizen's mail inside is
            // still a complaint (not ignored), but the rule gets no answer.
            "fwd_auto_generated",
            Want {
                name: Some("Bambang Irawan"),
                forwarded_by: Some("email:drainase@dinaspu.example-kab.go.id"),
                lacks: &["Sent:", "______"],
                subject: Some("Parit tersumbat di Jl. Anggrek"),
                no_reply: true,
                sent_at: Some("2025-11-10T00:58:00Z"),
                ..complaint(
                    "email:bambang.irawan71@gmail.com",
                    "SG2PR06MB5310RULE0A1B2C3D4E5F6A7B8C9@SG2PR06MB5310.apcprd06.prod.outlook.com",
                    &["Parit di sepanjang Jl. Anggrek tersumbat", "Bambang"],
                )
            },
        ),
        // --- Replies -----------------------------------------------------------
        (
            // A reply to our acknowledgement: quote, wrapped attribution and
            // signature cut.
            "reply_ack_gmail",
            as_(
                Decision::Append,
                Want {
                    lacks: &["telah kami terima", "0812-3456-7890", "wrote:", ">", "-- "],
                    subject: Some("[SLR-7K3Q-9XPA] Aduan Anda telah kami terima"),
                    reply_to: Some(ACK_BUDI),
                    reference: Some(
                        "CAJx7Lq2mHf0pQ8vN3kR5tY9wZ1aB4cD6eF8gH0iJ2kL4mN6oP@mail.gmail.com",
                    ),
                    ..complaint(
                        BUDI,
                        "CAJx7Lq3rEpLy2aCk4nOwLeDgE6mEnT8pQ0rS2tU4vW6xY8z@mail.gmail.com",
                        &[
                            "lubangnya sekarang makin lebar",
                            "genangan air di dalamnya.",
                        ],
                    )
                },
            ),
        ),
        (
            // Outlook, Indonesian: `Dari:`/`Dikirim:` block under a rule,
            // and its advertisement line.
            "reply_ack_outlook_id",
            as_(
                Decision::Append,
                Want {
                    name: Some("André Wijaya"),
                    lacks: &["Dapatkan Outlook", "Dikirim:", "nomor pelacakan", "____"],
                    subject: Some("[SLR-4H8M-2WQZ] Aduan Anda telah kami terima"),
                    reply_to: Some("ack.01JC9A4N2R6W8Y0B2D4F6H8K0M@salur.example-kab.go.id"),
                    reference: Some("20251104060158.7F2A1C0045@smtp.example-mail.co.id"),
                    ..complaint(
                        "email:andre.wijaya@example-mail.co.id",
                        "HK0PR02MB2765ABCDEF0123456789FEDCBA98@HK0PR02MB2765.apcprd02.prod.outlook.com",
                        &["PJU-0413 masih mati."],
                    )
                },
            ),
        ),
        (
            // Yahoo, Indonesian (`Bls:`): the quote follows `menulis:` on
            // the same line, with no `>`.
            "reply_yahoo_id",
            as_(
                Decision::Append,
                Want {
                    lacks: &["Dikirim dari Yahoo", "menulis:", "nomor pelacakan"],
                    subject: Some("[SLR-2WXY-5ZAB] Aduan Anda telah kami terima"),
                    reply_to: Some("ack.01JC8Z9B3C5D7E9F1G3H5J7K9M@salur.example-kab.go.id"),
                    reference: Some("1183402711.2297845.1762173644012@mail.yahoo.com"),
                    ..complaint(
                        "email:rina.wulandari@yahoo.co.id",
                        "1290384756.3321987.1762477323456@mail.yahoo.com",
                        &["air belum mengalir, sudah 7 hari"],
                    )
                },
            ),
        ),
        (
            // No In-Reply-To or References: only the tracking code in the
            // subject links it.
            "reply_tracking_subject",
            as_(
                Decision::Append,
                Want {
                    lacks: &["Sent from my iPhone"],
                    subject: Some("Aduan SLR-9MQR-4TVW belum ada tindakan"),
                    ..complaint(
                        "email:dewi.lestari.ortu@gmail.com",
                        "F1E2D3C4-B5A6-4978-8695-A4B3C2D1E0F9@gmail.com",
                        &["belum ada petugas\nyang datang"],
                    )
                },
            ),
        ),
        (
            // Only References (nearest first: our status notice); a
            // Thunderbird attribution without an address.
            "references_only",
            as_(
                Decision::Append,
                Want {
                    lacks: &["Status aduan Anda", "wrote:"],
                    subject: Some("Sampah Perumahan Taman Sari"),
                    reference: Some("status.01JCC5D6E7F8G9H0J1K2M3N4P5@salur.example-kab.go.id"),
                    ..complaint(
                        "email:maria.gunawan@example-mail.co.id",
                        "c4d5e6f7-0812-4a3b-9c4d-5e6f70819203@example-mail.co.id",
                        &["Tapi bak sampah yang rusak belum diganti.\n\nMaria"],
                    )
                },
            ),
        ),
        (
            // Outlook on the web, HTML only: the quoted header block is
            // found in the text made from the HTML.
            "reply_html_outlook_en",
            as_(
                Decision::Append,
                Want {
                    lacks: &["From:", "has been received", "<", "&nbsp;"],
                    subject: Some("[SLR-8XYZ-4ABC] Your complaint has been received"),
                    reply_to: Some("ack.01JCD3F5H7K9M1P3R5T7V9X1Z3@salur.example-kab.go.id"),
                    ..complaint(
                        "email:joko.susilo@outlook.co.id",
                        "TYZPR04MB6321REPLY0A1B2C3D4E5F6A7B8@TYZPR04MB6321.apcprd04.prod.outlook.com",
                        &["between km 3 and km 4, near the rice mill.\n\nJoko"],
                    )
                },
            ),
        ),
        // --- Automatic mail ----------------------------------------------------
        (
            "auto_submitted",
            Want {
                lacks: &["Content-Type"],
                no_reply: true,
                ignore: Some("Auto-Submitted: auto-replied"),
                subject: Some("[SLR-7K3Q-9XPA] Aduan Anda telah kami terima"),
                reply_to: Some(ACK_BUDI),
                ..as_(
                    Decision::Ignore,
                    complaint(
                        BUDI,
                        "CAJx7Lq2vAcAt10nR3pLy5tY9wZ1aB4cD6eF8gH0iJ2kL4mN@mail.gmail.com",
                        &["sedang dinas luar kota"],
                    ),
                )
            },
        ),
        (
            "x_autoreply",
            Want {
                lacks: &["X-Autoreply"],
                no_reply: true,
                ignore: Some("X-Autoreply"),
                subject: Some("[SLR-4H8M-2WQZ] Aduan Anda telah kami terima"),
                reply_to: Some("ack.01JC9A4N2R6W8Y0B2D4F6H8K0M@salur.example-kab.go.id"),
                ..as_(
                    Decision::Ignore,
                    complaint(
                        "email:heru.prasetyo@example-mail.co.id",
                        "autoreply.1762239603.77812@example-mail.co.id",
                        &["dibalas otomatis"],
                    ),
                )
            },
        ),
        (
            // Outlook's English out-of-office: only the subject (and
            // X-Auto-Response-Suppress) tell.
            "ooo_en",
            Want {
                lacks: &["Content-Type"],
                no_reply: true,
                ignore: Some("out-of-office"),
                subject: Some("Automatic reply: [SLR-8C5D-3FGH] Aduan diteruskan ke Dinas PU"),
                reply_to: Some("fwd.01JCB7P3S5U7W9Y1A3C5E7G9J1@salur.example-kab.go.id"),
                ..as_(
                    Decision::Ignore,
                    complaint(
                        "email:kasi.jalan@dinaspu.example-kab.go.id",
                        "SG2PR06MB5310OOF0A1B2C3D4E5F6071829@SG2PR06MB5310.apcprd06.prod.outlook.com",
                        &["out of the office until 12 November"],
                    ),
                )
            },
        ),
        (
            // Outlook's Indonesian out-of-office, no header at all.
            "ooo_id",
            Want {
                lacks: &["Content-Type"],
                no_reply: true,
                ignore: Some("out-of-office"),
                subject: Some(
                    "Balasan Otomatis: [SLR-6JKL-9MNP] Aduan diteruskan ke Dinas Kesehatan",
                ),
                ..as_(
                    Decision::Ignore,
                    complaint(
                        "email:sekretariat@dinkes.example-kab.go.id",
                        "KL1PR0601MB4451BALASAN0123456789AB@KL1PR0601MB4451.apcprd06.prod.outlook.com",
                        &["libur bersama"],
                    ),
                )
            },
        ),
        (
            // A hand-made Indonesian out-of-office subject.
            "ooo_id_cuti",
            Want {
                lacks: &["Content-Type"],
                no_reply: true,
                ignore: Some("out-of-office"),
                subject: Some("Sedang cuti sampai 17 November"),
                ..as_(
                    Decision::Ignore,
                    complaint(
                        "email:eko.wibowo.pns@gmail.com",
                        "CAH9iJ1kL3mN5oP7qR9sT1uV3wX5yZ7aB9cD1eF3gH5iJ7kL@mail.gmail.com",
                        &["Saya sedang cuti"],
                    ),
                )
            },
        ),
        (
            "list_mail",
            Want {
                lacks: &["List-Id"],
                no_reply: true,
                ignore: Some("mailing list"),
                subject: Some("Buletin November: inovasi pelayanan publik di daerah"),
                ..as_(
                    Decision::Ignore,
                    complaint(
                        "email:buletin@buletin.example.id",
                        "20251107060000.buletin.98765@buletin.example.id",
                        &["Edisi November"],
                    ),
                )
            },
        ),
        (
            // A web portal's notification from a no-reply address: a
            // complaint, but nothing may be answered to it.
            "noreply_portal",
            Want {
                lacks: &["Content-Type"],
                no_reply: true,
                subject: Some("Aduan warga dari formulir SID: jalan desa longsor"),
                ..complaint(
                    "email:noreply@sid.desa-sukamukti.example.id",
                    "sid-aduan-000187@sid.desa-sukamukti.example.id",
                    &["Dusun Cipeuteuy longsor"],
                )
            },
        ),
        (
            // Our own acknowledgement delivered back to us.
            "own_loop",
            Want {
                lacks: &["Auto-Submitted"],
                no_reply: true,
                ignore: Some("a loop"),
                subject: Some("[SLR-3DFG-7HJK] Aduan Anda telah kami terima"),
                ..as_(
                    Decision::Ignore,
                    complaint(
                        "email:aduan@example-kab.go.id",
                        "ack.01JC8Y5K7M9P1R3T5V7X9Z1B3E@salur.example-kab.go.id",
                        &["nomor pelacakan"],
                    ),
                )
            },
        ),
        (
            // A read receipt is a report, but not of a failure.
            "mdn_read_receipt",
            Want {
                lacks: &["Disposition:", "Original-Message-ID"],
                no_reply: true,
                ignore: Some("disposition-notification"),
                subject: Some("Dibaca: [SLR-8C5D-3FGH] Aduan diteruskan ke Kecamatan"),
                ..as_(
                    Decision::Ignore,
                    complaint(
                        "email:camat@kec-sukamaju.example-kab.go.id",
                        "mdn.20251105093000.7781@kec-sukamaju.example-kab.go.id",
                        &["telah ditampilkan"],
                    ),
                )
            },
        ),
        // --- Bounces -----------------------------------------------------------
        (
            // Postfix DSN of one of our acknowledgements, returned whole.
            "dsn_bounce",
            Want {
                lacks: &["Reporting-MTA", "Aduan Anda telah kami terima"],
                no_reply: true,
                subject: Some("Undelivered Mail Returned to Sender"),
                bounce: Some((
                    "ack.01JC8Y5K7M9P1R3T5V7X9Z1B3D@salur.example-kab.go.id",
                    "5.1.1 smtp; 550 5.1.1 <budi.santoso@gmial.com>: Recipient address rejected: User unknown",
                )),
                ..as_(
                    Decision::Bounce,
                    complaint(
                        "email:mailer-daemon@mx.example-kab.go.id",
                        "20251103011503.4R2kZz9Qrs@mx.example-kab.go.id",
                        &["could not\nbe delivered"],
                    ),
                )
            },
        ),
        (
            // Exchange DSN returning only the headers (text/rfc822-headers).
            "dsn_rfc822_headers",
            Want {
                lacks: &["Reporting-MTA", "Return-Path"],
                no_reply: true,
                subject: Some("Undeliverable: [SLR-5NPQ-8RST] Aduan diteruskan ke Dinas Sosial"),
                bounce: Some((
                    "fwd.01JC9B7Q5S7U9W1Y3A5C7E9G1J@salur.example-kab.go.id",
                    "5.2.2 smtp;554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException",
                )),
                reply_to: Some("fwd.01JC9B7Q5S7U9W1Y3A5C7E9G1J@salur.example-kab.go.id"),
                ..as_(
                    Decision::Bounce,
                    complaint(
                        "email:postmaster@dinsos.example-kab.go.id",
                        "d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6@SG2PR06MB5310.apcprd06.prod.outlook.com",
                        &["mailbox is full"],
                    ),
                )
            },
        ),
        (
            // A failure report without the returned message.
            "dsn_unidentifiable",
            Want {
                lacks: &["Final-Recipient"],
                no_reply: true,
                ignore: Some("bounce of a message that cannot be identified"),
                subject: Some("Delivery Status Notification (Failure)"),
                ..as_(
                    Decision::Ignore,
                    complaint(
                        "email:mailer-daemon@relay.example-isp.net.id",
                        "20251105030000.DSN.55123@relay.example-isp.net.id",
                        &["too large"],
                    ),
                )
            },
        ),
        (
            // A delay warning is not a bounce.
            "dsn_delayed",
            Want {
                lacks: &["X-Postfix-Queue-ID", "Aduan diteruskan"],
                no_reply: true,
                ignore: Some("(delayed), not a failure"),
                subject: Some("Delayed Mail (still being retried)"),
                ..as_(
                    Decision::Ignore,
                    complaint(
                        "email:mailer-daemon@mx.example-kab.go.id",
                        "20251106050000.5S3mAa1Bcd@mx.example-kab.go.id",
                        &["WARNING ONLY"],
                    ),
                )
            },
        ),
        (
            // qmail's plain-text failure notice: from mailer-daemon but no
            // RFC 3464 report, so there is nothing to record it against.
            "mailer_daemon_notice",
            Want {
                lacks: &["Message-ID"],
                no_reply: true,
                ignore: Some("not a delivery report"),
                subject: Some("failure notice"),
                ..as_(
                    Decision::Ignore,
                    complaint(
                        "email:mailer-daemon@mail.example-isp.net.id",
                        "20251107021109.12345.qmail@mail.example-isp.net.id",
                        &["qmail-send program"],
                    ),
                )
            },
        ),
        // --- Senders, ids, broken mail ----------------------------------------
        (
            // No From: the Sender.
            "sender_fallback",
            Want {
                lacks: &["Sender:"],
                name: Some("Helpdesk Kominfo"),
                subject: Some("Menara BTS di Desa Cibodas tidak ada sinyal"),
                ..complaint(
                    "email:helpdesk@kominfo.example-kab.go.id",
                    "hd-20251108-0042@kominfo.example-kab.go.id",
                    &["sinyal seluler hilang"],
                )
            },
        ),
        (
            // A From with a name but no address: the Return-Path, named by
            // the From.
            "return_path_fallback",
            Want {
                lacks: &["Return-Path"],
                name: Some("Warga Peduli Cikadu"),
                subject: Some("Pembakaran sampah di lahan kosong"),
                ..complaint(
                    "email:warga.peduli.cikadu@yahoo.co.id",
                    "1771020304.1122334.1762644600000@mail.yahoo.com",
                    &["pembakaran sampah"],
                )
            },
        ),
        (
            // No sender at all: quarantined, with what could be read.
            "no_sender",
            Want {
                lacks: &["To:", "Subject:"],
                subject: Some("laporan"),
                ..as_(
                    Decision::Quarantine,
                    complaint(
                        "email:unknown",
                        "noreply-script-0001@localhost",
                        &["tanpa pengirim"],
                    ),
                )
            },
        ),
        (
            "missing_message_id",
            Want {
                lacks: &["Content-Type"],
                id: Id::Hash,
                subject: Some("Pasar ikan becek dan bau"),
                ..complaint(
                    "email:pakde.harjo@example-mail.co.id",
                    "",
                    &["Pasar Ikan Sukamaju"],
                )
            },
        ),
        (
            // `Content-Type: text/plain charset=utf-8` (no semicolon):
            // mail-parser files the whole body as an attachment of type
            // `text/plain charset=utf-8`. It is read as the body instead,
            // and not listed as a file. The form's Reply-To is not used:
            // the reporter is who sent the mail.
            "malformed_content_type",
            Want {
                lacks: &["Content-Type", "Content-Transfer-Encoding"],
                subject: Some("Aduan dari formulir web: PJU rusak di Jl. Cempaka"),
                ..complaint(
                    "email:formulir@kelurahan-cibodas.example.id",
                    "form-7731.1762657810@kelurahan-cibodas.example.id",
                    &["Nama: Teguh Santosa", "Tiga lampu PJU berturut-turut padam"],
                )
            },
        ),
        (
            // Cut off inside the photo's base64, with no closing boundary:
            // best effort, the text is read and the photo (garbage now) is
            // left out.
            "truncated",
            Want {
                lacks: &["iVBOR", "Content-Type"],
                subject: Some("Trotoar rusak di depan Pasar Kliwon"),
                ..complaint(
                    "email:fajar.nugroho@gmail.com",
                    "CAN8yRt5truncated0aS6dF8gH0jK2lZ4xC6vB8nM0qW2eR4tY6uI@mail.gmail.com",
                    &["Trotoar di depan Pasar Kliwon ambles"],
                )
            },
        ),
        (
            // Random bytes: no sender, so quarantined, keyed on the hash.
            "binary_junk",
            Want {
                id: Id::Hash,
                has: &[],
                ..as_(Decision::Quarantine, complaint("email:unknown", "", &[]))
            },
        ),
    ]
}

#[test]
fn every_fixture_is_read() {
    let cases = cases();
    let mut covered: Vec<&str> = cases.iter().map(|(n, _)| *n).collect();
    covered.sort_unstable();
    assert_eq!(
        covered,
        fixture_names(),
        "every fixture has exactly one case"
    );
    assert!(covered.len() >= 40, "at least 40 fixtures");
    for (name, want) in &cases {
        check(name, &read(name), want);
    }
}

#[test]
fn attachments_are_found_again_with_the_stated_hash() {
    let mut seen = 0;
    for name in fixture_names() {
        let raw = fixture(&name);
        let m = reader().read(&raw, now());
        for a in &m.attachments {
            let (bytes, mime) = attachment(&raw, &a.provider_ref)
                .unwrap_or_else(|| panic!("{name}: {} not found", a.provider_ref));
            assert_eq!(
                Some(hex::encode(Sha256::digest(&bytes))),
                a.sha256,
                "{name}: {}",
                a.provider_ref
            );
            assert_eq!(Some(bytes.len() as u64), a.size, "{name}: size");
            assert_eq!(mime, a.mime, "{name}: mime");
            seen += 1;
        }
        // A reference into another mail, or to no part, finds nothing.
        assert!(attachment(&raw, "someone-else@example.com#1").is_none());
        let missing = format!("{}#999", m.provider_message_id);
        assert!(attachment(&raw, &missing).is_none(), "{name}");
    }
    assert!(seen >= 8, "{seen} attachments checked");

    // The files are the files that were sent.
    let raw = fixture("fwd_attached_rfc822");
    let m = reader().read(&raw, now());
    let (png, mime) = attachment(&raw, &m.attachments[0].provider_ref).expect("photo");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    assert_eq!(mime.as_deref(), Some("image/png"));
    assert!(
        m.attachments[0].provider_ref.contains("#2."),
        "inside part 2"
    );
    let raw = fixture("attached_eml_evidence");
    let m = reader().read(&raw, now());
    let (eml, mime) = attachment(&raw, &m.attachments[0].provider_ref).expect("mail");
    assert_eq!(mime.as_deref(), Some("message/rfc822"));
    let inner = reader().read(&eml, now());
    assert_eq!(
        inner.subject.as_deref(),
        Some("Jadwal gilir air wilayah Cimanggu")
    );
}

#[test]
fn huge_attachment_is_over_the_limit() {
    for name in fixture_names() {
        let m = read(&name);
        for a in &m.attachments {
            let size = a.size.expect("size");
            assert_eq!(
                size > LIMIT,
                name == "huge_attachment",
                "{name}: {size} bytes"
            );
        }
    }
}

#[test]
fn reading_twice_gives_the_same_message() {
    for name in fixture_names() {
        let raw = fixture(&name);
        let a = reader().read(&raw, now());
        let b = reader().read(&raw, now());
        assert_eq!(a, b, "{name}");
        assert_eq!(a.raw, b.raw, "{name}: raw");
    }
}

#[test]
fn junk_never_panics() {
    let mut inputs: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"\n".to_vec(),
        b"\r\n\r\n".to_vec(),
        b":".to_vec(),
        b"From:".to_vec(),
        b"From: <>\n\n".to_vec(),
        b"From: a@b.co\nContent-Type: multipart/mixed; boundary=x\n\n--x\n".to_vec(),
        b"From: a@b.co\nContent-Type: message/rfc822\n\nFrom: c@d.co\nContent-Type: message/rfc822\n\n"
            .to_vec(),
        b"From: a@b.co\nSubject: =?utf-8?B?\n\n".to_vec(),
        b"From: a@b.co\nContent-Type: text/html\n\n<div><ol><li><table><td><pre></li>&#99999999999;&"
            .to_vec(),
        b"From: a@b.co\nSubject: Fwd:\n\n---------- Forwarded message ---------\nFrom:\n".to_vec(),
        b"From: a@b.co\nSubject: Re:\n\nOn\n".to_vec(),
        vec![0xff; 4096],
    ];
    // Every fixture cut at many points (a half mail), and a pseudo-random
    // byte soup.
    for name in fixture_names() {
        let raw = fixture(&name);
        let step = (raw.len() / 13).max(1);
        for cut in (0..raw.len()).step_by(step) {
            inputs.push(raw[..cut].to_vec());
        }
    }
    let mut state: u64 = 0x5eed_5a1a_2025;
    for len in [1, 7, 64, 500, 4000] {
        let bytes = (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (state >> 56) as u8
            })
            .collect();
        inputs.push(bytes);
    }
    for raw in &inputs {
        let m = reader().read(raw, now());
        assert_eq!(&m.raw[..], &raw[..]);
        assert!(!m.provider_message_id.is_empty());
        let _ = decision(&m);
        for a in &m.attachments {
            let _ = attachment(raw, &a.provider_ref);
        }
    }
    let empty = reader().read(b"", now());
    assert_eq!(decision(&empty), Decision::Quarantine);
    assert_eq!(empty.reporter.handle, "email:unknown");
}

#[test]
fn decision_follows_the_fields() {
    let m = read("plain_gmail");
    assert_eq!(decision(&m), Decision::Complaint);
    let with = |f: &dyn Fn(&mut InboundMessage)| {
        let mut m = m.clone();
        f(&mut m);
        decision(&m)
    };
    assert_eq!(
        with(&|m| m.subject = Some("Soal SLR-7K3Q-9XPA".into())),
        Decision::Append
    );
    assert_eq!(
        with(&|m| m.references = vec!["x@y".into()]),
        Decision::Append
    );
    assert_eq!(
        with(&|m| {
            m.reply_to = Some("x@y".into());
            m.ignore = Some("list".into());
        }),
        Decision::Ignore
    );
    assert_eq!(
        with(&|m| {
            m.ignore = Some("list".into());
            m.flag = Some("unreadable".into());
        }),
        Decision::Quarantine
    );
    assert_eq!(
        tracking_code("re: slr-7k3q-9xpa").as_deref(),
        Some("SLR-7K3Q-9XPA")
    );
}
