//! Proves the Kannel rig: MO SMS injected through fakesmsc reach the
//! `get-url` with Kannel's own encodings (GSM text and UCS-2, a line longer
//! than fakesmsc's read buffer included), a burst of 1,000 arrives once
//! each, a failed `get-url` call is retried with the same id, and replies
//! sent through `sendsms` come out at fakesmsc with the right text.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;

use crate::kannel_rig::{KannelRig, MoCoding, SMSC_ID, query_param, utf16be_to_string};

/// Every escape the end-to-end test may want, under its own name.
const GET_URL_QUERY: &str = "id=%I&from=%p&to=%P&a=%a&text=%b&t=%t&time=%T&smsc=%i\
                             &coding=%c&charset=%C&udh=%u";

/// An axum server standing in for Salur: it records each raw query string
/// and answers 503 to the first `fail_first` calls, 200 afterwards.
struct Recorder {
    get_url: String,
    queries: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    async fn start(fail_first: usize) -> Self {
        let queries: Arc<Mutex<Vec<String>>> = Arc::default();
        let router = axum::Router::new()
            .route("/mo", get(record))
            .with_state((queries.clone(), fail_first));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self {
            get_url: format!("http://{addr}/mo?{GET_URL_QUERY}"),
            queries,
        }
    }

    fn queries(&self) -> Vec<String> {
        self.queries.lock().unwrap().clone()
    }

    /// Waits until at least `count` calls arrived (or `timeout` passed).
    async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        while self.queries().len() < count && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.queries()
    }
}

async fn record(
    State((queries, fail_first)): State<(Arc<Mutex<Vec<String>>>, usize)>,
    RawQuery(query): RawQuery,
) -> StatusCode {
    let mut queries = queries.lock().unwrap();
    queries.push(query.unwrap_or_default());
    if queries.len() <= fail_first {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    }
}

/// A query parameter as UTF-8 text.
fn param(query: &str, name: &str) -> String {
    String::from_utf8(query_param(query, name).unwrap_or_default()).unwrap()
}

/// The MO text of a recorded call, decoded by its `%c` coding.
fn mo_text(query: &str) -> String {
    let bytes = query_param(query, "text").unwrap();
    match param(query, "coding").as_str() {
        "2" => utf16be_to_string(&bytes),
        _ => String::from_utf8(bytes).unwrap(),
    }
}

/// The recorded call from `from`.
fn call_from<'a>(queries: &'a [String], from: &str) -> &'a str {
    queries
        .iter()
        .find(|q| param(q, "from") == from)
        .unwrap_or_else(|| panic!("no call from {from} in {queries:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kannel_mo_gsm_and_ucs2_reach_get_url() {
    let recorder = Recorder::start(0).await;
    let Some(rig) = KannelRig::start(&recorder.get_url).await else {
        return;
    };
    eprintln!("kannel rig started in {:?}", rig.started_in());
    let gsm = "Jalan  rusak di Jl. Merdeka no 5, 100% + €";
    let ucs2 = "Jalan berlubang 🚧 dekat pasar, mohon diperbaiki 🙏";
    // Longer than fakesmsc's 255-byte read once url-encoded as UTF-16BE.
    let long = "Lampu jalan di RT 03 RW 05 Kelurahan Sukamaju mati sejak seminggu 💡";
    let before = chrono::Utc::now().timestamp();
    rig.inject("6281234567890", "1708", gsm).await;
    rig.inject("081234567891", "1708", ucs2).await;
    rig.inject_as("6281234567892", "1708", long, MoCoding::Ucs2)
        .await;

    let queries = recorder.wait_for(3, Duration::from_secs(20)).await;
    assert_eq!(queries.len(), 3, "{queries:#?}\n{}", rig.logs());
    for q in &queries {
        eprintln!("get-url query: {q}");
    }
    let plain = call_from(&queries, "6281234567890");
    assert_eq!(mo_text(plain), gsm);
    assert_eq!(
        param(plain, "a"),
        "Jalan rusak di Jl. Merdeka no 5, 100% + €"
    );
    assert_eq!(param(plain, "coding"), "0");
    assert_eq!(param(plain, "charset"), "UTF-8");
    assert_eq!(param(plain, "to"), "1708");
    assert_eq!(param(plain, "smsc"), SMSC_ID);
    assert_eq!(param(plain, "udh"), "");
    let time: i64 = param(plain, "time").parse().unwrap();
    assert!((before - 1..=before + 30).contains(&time), "%T = {time}");

    let unicode = call_from(&queries, "081234567891");
    assert_eq!(mo_text(unicode), ucs2);
    assert_eq!(param(unicode, "coding"), "2");
    assert_eq!(param(unicode, "charset"), "UTF-16BE");
    assert_eq!(mo_text(call_from(&queries, "6281234567892")), long);

    let ids: HashSet<String> = queries.iter().map(|q| param(q, "id")).collect();
    assert_eq!(ids.len(), 3, "%I differs per message");
    assert!(ids.iter().all(|id| id.len() == 36), "%I is a UUID: {ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kannel_mo_burst_of_1000_arrives_once_each() {
    const N: usize = 1000;
    let recorder = Recorder::start(0).await;
    let Some(rig) = KannelRig::start(&recorder.get_url).await else {
        return;
    };
    let started = Instant::now();
    for i in 0..N {
        rig.inject(
            &format!("62812{i:08}"),
            "1708",
            &format!("laporan nomor {i}"),
        )
        .await;
    }
    let injected = started.elapsed();
    let queries = recorder.wait_for(N, Duration::from_secs(120)).await;
    eprintln!(
        "burst of {N}: injected in {injected:?}, all {} delivered in {:?}",
        queries.len(),
        started.elapsed()
    );
    // Give a late duplicate the chance to show itself.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let queries = recorder.queries();
    assert_eq!(queries.len(), N, "{}", rig.logs());
    let ids: HashSet<String> = queries.iter().map(|q| param(q, "id")).collect();
    assert_eq!(ids.len(), N, "every message has its own %I");
    let texts: HashSet<String> = queries.iter().map(|q| mo_text(q)).collect();
    let expected: HashSet<String> = (0..N).map(|i| format!("laporan nomor {i}")).collect();
    assert_eq!(texts, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kannel_get_url_failure_is_retried_with_same_id() {
    let recorder = Recorder::start(1).await;
    let Some(rig) = KannelRig::start(&recorder.get_url).await else {
        return;
    };
    rig.inject("6281234567890", "1708", "tolong dicek").await;
    let queries = recorder.wait_for(2, Duration::from_secs(20)).await;
    assert_eq!(queries.len(), 2, "one 503, one retry: {queries:#?}");
    assert_eq!(queries[0], queries[1], "the retry repeats the same call");
    assert_eq!(mo_text(&queries[1]), "tolong dicek");
}

/// Sends one MT through smsbox's sendsms; `extra` adds query parameters.
async fn sendsms(rig: &KannelRig, to: &str, text: &str, extra: &[(&str, &str)]) {
    let (user, password) = rig.sendsms_user();
    let mut query = vec![
        ("username", user),
        ("password", password),
        ("from", "1708"),
        ("to", to),
        ("text", text),
    ];
    query.extend_from_slice(extra);
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(rig.sendsms_url())
        .query(&query)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, 202, "sendsms answered {status}: {body}");
    assert!(body.contains("Accepted for delivery"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kannel_sendsms_reaches_fakesmsc() {
    let recorder = Recorder::start(0).await;
    let Some(rig) = KannelRig::start(&recorder.get_url).await else {
        return;
    };
    let utf8 = [("charset", "UTF-8"), ("coding", "2")];
    let plain = "Terima kasih, laporan Anda tercatat: SLR-7K3Q-9XPA";
    let emoji = "Laporan diterima 🙏 kode SLR-7K3Q-9XPA";
    let lines = "Kode: SLR-7K3Q-9XPA\nStatus: diteruskan";
    let long = "Laporan Anda SLR-7K3Q-9XPA sudah diteruskan ke Dinas Pekerjaan Umum 🚧 \
                dan akan ditindaklanjuti dalam 3 hari kerja. Terima kasih 🙏";
    sendsms(&rig, "6281234567890", plain, &[]).await;
    sendsms(&rig, "6281234567891", emoji, &utf8).await;
    sendsms(&rig, "6281234567892", lines, &[]).await;
    sendsms(&rig, "6281234567893", lines, &utf8).await;
    sendsms(&rig, "6281234567894", long, &utf8).await;

    let got = rig.wait_received(5, Duration::from_secs(20)).await;
    for m in rig.received_raw() {
        eprintln!("fakesmsc got: {m:?}");
    }
    let texts = |to: &str| -> Vec<String> {
        got.iter()
            .filter(|(from, t, _)| from == "1708" && t == to)
            .map(|(_, _, text)| text.clone())
            .collect()
    };
    assert_eq!(texts("6281234567890"), [plain], "{got:#?}");
    assert_eq!(texts("6281234567891"), [emoji]);
    assert_eq!(
        texts("6281234567892"),
        [lines],
        "a text reply with a line break"
    );
    assert_eq!(texts("6281234567893"), [lines]);
    assert_eq!(texts("6281234567894").concat(), long);
}
