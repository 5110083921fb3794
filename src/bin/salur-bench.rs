//! `salur-bench`: the load benchmark for the SMS webhook.
//!
//! It starts a release-built `salur serve` on a fresh SQLite file and on a fresh PostgreSQL
//! database, drives `POST /webhooks/sms/bench` (the `generic` provider) over many keep-alive
//! connections, and prints throughput, latency percentiles and the server's peak resident memory.
//! The same client and workload also run against a do-nothing axum server, the ceiling, so the
//! figures can be read as a fraction of what the HTTP stack alone allows on this machine.
//!
//! After each server run it counts the stored rows and checks them against the acknowledged
//! message ids: an acknowledged id that was not stored is lost, a second row for one id is a
//! duplicate. Either makes the command exit with a non-zero status.
//!
//! Speed and memory are measured here, never asserted by a test.

use salur::store::{Op, Tx};
use std::collections::HashSet;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Parser, ValueEnum};
use hmac::{Hmac, KeyInit, Mac};
use http_body_util::{BodyExt as _, Empty, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use rand::rngs::SmallRng;
use rand::{Rng as _, RngCore as _, SeedableRng as _};
use sha2::Sha256;
use sqlx::{AssertSqlSafe, Connection as _};

/// The channel instance every request is sent to.
const CHANNEL: &str = "bench";
/// The webhook path of that channel.
const WEBHOOK_PATH: &str = "/webhooks/sms/bench";
/// Share of requests that replay an already acknowledged message.
const REPLAY_SHARE: f64 = 0.2;
/// How long a started server may take to answer `/readyz`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// A request that takes longer than this counts as an error and its connection is dropped.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a server may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// Interval of the resident-memory sampler.
const RSS_INTERVAL: Duration = Duration::from_millis(100);
/// Pause between the end of the load and reading the memory high-water mark.
const IDLE_PAUSE: Duration = Duration::from_secs(1);
/// Multiplier of the sender-number permutation; coprime with 10^8, so `n -> n * M + c mod 10^8`
/// is a bijection and every generated message has its own sender.
const SENDER_MULTIPLIER: u64 = 73_939_133;
/// Size of the sender-number space (`+62812` followed by 8 digits).
const SENDER_SPACE: u64 = 100_000_000;

/// Command-line flags.
#[derive(Debug, Parser)]
#[command(
    name = "salur-bench",
    about = "Load benchmark of the Salur SMS webhook on SQLite and PostgreSQL, against a do-nothing ceiling"
)]
struct Args {
    /// Which storage backends to benchmark; the ceiling always runs.
    #[arg(long, value_enum, default_value_t = Backend::Both)]
    backend: Backend,
    /// Concurrent keep-alive connections, each sending requests back to back.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..))]
    connections: u16,
    /// Length of the measured phase (e.g. `10s`, `1m`).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Length of the warm-up before the measured phase; its requests are not counted.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// PostgreSQL admin URL; the bench creates a fresh database through it and drops it after.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pg_url: String,
    /// Internal: run the do-nothing ceiling server on this port.
    #[arg(long, hide = true)]
    serve_ceiling: Option<u16>,
}

/// The `--backend` choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Backend {
    Sqlite,
    Postgres,
    Both,
    None,
}

/// One server under load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Ceiling,
    Sqlite,
    Postgres,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Self::Ceiling => "ceiling",
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(port) = args.serve_ceiling {
        return match serve_ceiling(port) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("ceiling server: {err:#}");
                ExitCode::FAILURE
            }
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("salur-bench: cannot start the client runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("salur-bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Orchestration
// ---------------------------------------------------------------------------------------------

/// Runs every selected target and prints the table. Returns whether everything passed.
async fn run(args: Args) -> Result<bool> {
    let exe = std::env::current_exe().context("cannot locate the bench executable")?;
    let exe_dir = exe
        .parent()
        .ok_or_else(|| anyhow!("the bench executable has no parent directory"))?
        .to_path_buf();
    // The ceiling runs before and after the backends, and ratios use the
    // mean of the two: on a shared host the speed of the machine drifts
    // over a run, and one reading taken a minute earlier would charge that
    // drift to the backend.
    let backends: &[Target] = match args.backend {
        Backend::Sqlite => &[Target::Sqlite],
        Backend::Postgres => &[Target::Postgres],
        Backend::Both => &[Target::Sqlite, Target::Postgres],
        Backend::None => &[],
    };
    let mut targets = vec![Target::Ceiling];
    if !backends.is_empty() {
        targets.extend(backends);
        targets.push(Target::Ceiling);
    }
    let salur = exe_dir.join("salur");
    if !backends.is_empty() && !salur.is_file() {
        bail!(
            "no server at {}: build it first: cargo build --release --bins",
            salur.display()
        );
    }

    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    println!(
        "salur-bench: POST {WEBHOOK_PATH}, {} connections, {} measured after {} warm-up, \
         {:.0}% replays; client and server share this host ({cores} cores)",
        args.connections,
        humantime::format_duration(args.duration),
        humantime::format_duration(args.warmup),
        REPLAY_SHARE * 100.0,
    );
    println!(
        "{:<10} {:>9} {:>8} {:>8} {:>14} {:>9} {:>8} {:>7}",
        "target", "req/s", "p50 ms", "p99 ms", "peak RSS MiB", "2xx", "non-2xx", "errors"
    );

    let mut all_ok = true;
    let mut ceiling_rates = Vec::new();
    let mut ratios = Vec::new();
    for target in targets {
        eprintln!("salur-bench: running {}", target.name());
        let report = match run_target(target, &args, &exe, &salur).await {
            Ok(report) => report,
            Err(err) => {
                all_ok = false;
                println!("{:<10} failed: {err:#}", target.name());
                continue;
            }
        };
        println!("{}", report.row());
        if !report.passed() {
            all_ok = false;
        }
        let rate = report.load.rate();
        match target {
            Target::Ceiling => ceiling_rates.push(rate),
            Target::Sqlite | Target::Postgres => ratios.push((target, rate)),
        }
    }
    let ceiling = mean(&ceiling_rates);
    if ceiling > 0.0 && !ratios.is_empty() {
        let line = ratios
            .iter()
            .map(|(target, rate)| format!("{}/ceiling = {:.3}", target.name(), rate / ceiling))
            .collect::<Vec<_>>()
            .join("   ");
        let of = if ceiling_rates.len() > 1 {
            format!(
                " (ceiling: mean of the {} ceiling runs, {ceiling:.0} req/s)",
                ceiling_rates.len()
            )
        } else {
            String::new()
        };
        println!("{line}{of}");
    }
    Ok(all_ok)
}

/// The mean of `rates`; 0 when there are none.
fn mean(rates: &[f64]) -> f64 {
    if rates.is_empty() {
        return 0.0;
    }
    rates.iter().sum::<f64>() / rates.len() as f64
}

/// What one target produced.
struct TargetReport {
    target: Target,
    load: LoadReport,
    peak_rss_kib: Option<u64>,
    integrity: Option<Integrity>,
}

impl TargetReport {
    fn row(&self) -> String {
        let load = &self.load;
        let rss = self.peak_rss_kib.map_or_else(
            || "n/a".to_owned(),
            |kib| format!("{:.1}", kib as f64 / 1024.0),
        );
        let non_2xx = load.status_4xx + load.status_5xx + load.status_other;
        let mut row = format!(
            "{:<10} {:>9.0} {:>8.2} {:>8.2} {:>14} {:>9} {:>8} {:>7}",
            self.target.name(),
            load.rate(),
            load.percentile_ms(0.50),
            load.percentile_ms(0.99),
            rss,
            load.status_2xx,
            non_2xx,
            load.errors,
        );
        if non_2xx > 0 {
            let _ = write!(
                row,
                "   (4xx={} 5xx={} other={})",
                load.status_4xx, load.status_5xx, load.status_other
            );
        }
        if let Some(integrity) = &self.integrity {
            let _ = write!(
                row,
                "   rows={} distinct_acked={} lost={} duplicated={}",
                integrity.rows, integrity.distinct_acked, integrity.lost, integrity.duplicated
            );
        }
        row
    }

    fn passed(&self) -> bool {
        self.integrity
            .as_ref()
            .is_none_or(|integrity| integrity.lost == 0 && integrity.duplicated == 0)
    }
}

/// Stored rows compared with acknowledged ids.
struct Integrity {
    rows: i64,
    distinct_acked: usize,
    lost: usize,
    duplicated: i64,
}

/// Runs one target from start to cleanup.
async fn run_target(target: Target, args: &Args, exe: &Path, salur: &Path) -> Result<TargetReport> {
    let tmp = TempDir::create()?;
    let port = free_port()?;
    let secret = random_hex(32);
    match target {
        Target::Ceiling => {
            let mut command = tokio::process::Command::new(exe);
            command.arg("--serve-ceiling").arg(port.to_string());
            measure(target, args, command, &tmp, port, &secret, None).await
        }
        Target::Sqlite => {
            let db_path = tmp.path().join("salur.db");
            let url = format!("sqlite://{}", db_path.display());
            let command = salur_command(salur, &tmp, port, &url, &secret)?;
            measure(
                target,
                args,
                command,
                &tmp,
                port,
                &secret,
                Some(url.clone()),
            )
            .await
        }
        Target::Postgres => {
            let name = format!("salur_bench_{}", random_hex(6));
            let url = with_database(&args.pg_url, &name)?;
            let mut admin = sqlx::PgConnection::connect(&args.pg_url)
                .await
                .context("cannot connect to PostgreSQL with --pg-url")?;
            sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut admin)
                .await
                .with_context(|| format!("cannot create database {name}"))?;
            let result = match salur_command(salur, &tmp, port, &url, &secret) {
                Ok(command) => {
                    measure(
                        target,
                        args,
                        command,
                        &tmp,
                        port,
                        &secret,
                        Some(url.clone()),
                    )
                    .await
                }
                Err(err) => Err(err),
            };
            let dropped = sqlx::raw_sql(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut admin)
            .await;
            if let Err(err) = dropped {
                eprintln!("salur-bench: could not drop database {name}: {err}");
            }
            let _ = admin.close().await;
            result
        }
    }
}

/// Writes the server config into `tmp` and builds the `salur serve` command.
fn salur_command(
    salur: &Path,
    tmp: &TempDir,
    port: u16,
    database_url: &str,
    secret: &str,
) -> Result<tokio::process::Command> {
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n\n\
         [database]\nurl = \"{database_url}\"\n\n\
         [log]\nlevel = \"warn\"\n\n\
         [[channels]]\nname = \"{CHANNEL}\"\nkind = \"sms\"\nprovider = \"generic\"\nsecret = \"{secret}\"\n"
    );
    let config_path = tmp.path().join("salur.toml");
    std::fs::write(&config_path, config)
        .with_context(|| format!("cannot write {}", config_path.display()))?;
    let mut command = tokio::process::Command::new(salur);
    command.arg("serve").arg("--config").arg(&config_path);
    // The temporary config must be what the server runs with, so no `SALUR_…` override from the
    // caller's environment may reach it.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SALUR_") {
            command.env_remove(&key);
        }
    }
    Ok(command)
}

/// Starts the server, loads it, samples its memory, stops it and checks its rows.
async fn measure(
    target: Target,
    args: &Args,
    mut command: tokio::process::Command,
    tmp: &TempDir,
    port: u16,
    secret: &str,
    database_url: Option<String>,
) -> Result<TargetReport> {
    let log_path = tmp.path().join("server.log");
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("cannot create {}", log_path.display()))?;
    let log_err = log.try_clone().context("cannot share the log file")?;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_err))
        .kill_on_drop(true);
    let mut child = command.spawn().context("cannot start the server")?;
    let pid = child
        .id()
        .ok_or_else(|| anyhow!("the server exited at once"))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    if let Err(err) = wait_ready(addr, &mut child).await {
        return Err(err.context(format!("server log tail:\n{}", log_tail(&log_path))));
    }

    let sampler = RssSampler::start(pid);
    let load = run_load(addr, secret, args).await;
    tokio::time::sleep(IDLE_PAUSE).await;
    let high_water = read_status_kib(pid, "VmHWM:");
    let sampled = sampler.stop();
    let peak_rss_kib = high_water.max(sampled);

    stop_server(&mut child, pid, &log_path).await?;
    let load = load?;
    if load.errors > 0 || load.status_2xx == 0 || load.status_5xx > 0 || load.status_4xx > 0 {
        eprintln!(
            "salur-bench: {} had failed requests; server log tail:\n{}",
            target.name(),
            log_tail(&log_path)
        );
    }

    let integrity = match database_url {
        None => None,
        Some(url) => {
            let stored = stored_ids(&url).await?;
            Some(check_integrity(&load, &stored))
        }
    };
    Ok(TargetReport {
        target,
        load,
        peak_rss_kib,
        integrity,
    })
}

/// Polls `GET /readyz` until it answers 200, the server exits, or the timeout passes.
async fn wait_ready(addr: SocketAddr, child: &mut tokio::process::Child) -> Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().context("cannot poll the server")? {
            bail!("the server exited before it was ready ({status})");
        }
        let probe = tokio::time::timeout(Duration::from_secs(1), probe_ready(addr)).await;
        if matches!(probe, Ok(Ok(StatusCode::OK))) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "GET /readyz did not answer 200 within {}s",
                READY_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One `GET /readyz` on a fresh connection.
async fn probe_ready(addr: SocketAddr) -> Result<StatusCode> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = Request::builder()
        .method(Method::GET)
        .uri("/readyz")
        .header(HOST, addr.to_string())
        .body(Empty::new())?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    response.into_body().collect().await?;
    Ok(status)
}

/// Sends SIGTERM and waits for the exit, killing the server if it hangs.
async fn stop_server(child: &mut tokio::process::Child, pid: u32, log_path: &Path) -> Result<()> {
    let sent = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .context("cannot run kill")?;
    if !sent.success() {
        eprintln!("salur-bench: kill -TERM {pid} failed ({sent})");
    }
    match tokio::time::timeout(STOP_TIMEOUT, child.wait()).await {
        Ok(status) => {
            let status = status.context("cannot wait for the server")?;
            if !status.success() {
                eprintln!(
                    "salur-bench: the server exited with {status} after SIGTERM; log tail:\n{}",
                    log_tail(log_path)
                );
            }
        }
        Err(_) => {
            eprintln!(
                "salur-bench: the server did not exit within {}s of SIGTERM; killing it",
                STOP_TIMEOUT.as_secs()
            );
            child.kill().await.context("cannot kill the server")?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Stored rows
// ---------------------------------------------------------------------------------------------

/// Rows found in `inbound_messages` after a run.
struct StoredIds {
    rows: i64,
    distinct: i64,
    ids: HashSet<String>,
}

/// Counts the bench channel's rows with the service's own storage layer.
struct CountStored;

impl Op for CountStored {
    type Output = (i64, Vec<String>);

    async fn run<C: Tx>(&mut self, c: &mut C) -> salur::store::Result<(i64, Vec<String>)> {
        Ok((
            c.count_rows("inbound_messages").await?,
            c.provider_ids("bench").await?,
        ))
    }
}

/// Reads the row count and stored provider ids of a stopped server's database.
async fn stored_ids(database_url: &str) -> Result<StoredIds> {
    let store = salur::store::Store::open(&salur::store::StoreOptions {
        url: database_url.to_owned(),
        max_connections: 2,
        sqlite_synchronous_full: true,
        write_batch_max: 1,
    })
    .await
    .context("cannot open the bench database")?;
    let counted = store.read(CountStored).await;
    store.close().await;
    let (rows, ids) = counted.context("cannot count the stored rows")?;
    let ids: HashSet<String> = ids.into_iter().collect();
    Ok(StoredIds {
        rows,
        distinct: i64::try_from(ids.len()).unwrap_or(i64::MAX),
        ids,
    })
}

/// Compares the stored ids with the acknowledged ones.
fn check_integrity(load: &LoadReport, stored: &StoredIds) -> Integrity {
    let lost = load
        .acked
        .iter()
        .filter(|seed| !stored.ids.contains(&load.workload.id(seed.n)))
        .count();
    Integrity {
        rows: stored.rows,
        distinct_acked: load.acked.len(),
        lost,
        duplicated: stored.rows - stored.distinct,
    }
}

// ---------------------------------------------------------------------------------------------
// Workload
// ---------------------------------------------------------------------------------------------

/// Complaint texts; `{}` is replaced by a place from [`PLACES`].
const TEXTS: &[&str] = &[
    "Pak, jalan di {} rusak parah, banyak lubang besar. Minggu ini sudah dua motor jatuh. Mohon segera diperbaiki.",
    "Lampu penerangan jalan di {} mati sejak seminggu lalu, malam hari gelap sekali dan rawan begal.",
    "Sampah di TPS {} sudah tiga hari tidak diangkut, baunya menyengat sampai ke rumah warga.",
    "Saluran air di {} tersumbat, setiap hujan deras air meluap ke jalan dan masuk ke rumah warga.",
    "Air PDAM di {} tidak mengalir sejak kemarin pagi, warga terpaksa beli air galon untuk masak.",
    "Selamat siang, mohon info syarat mengurus KTP-el yang hilang. Saya tinggal di {}. Terima kasih.",
    "Pelayanan di kantor desa {} lambat sekali, antre dari jam 8 pagi baru dilayani jam 12 siang.",
    "Ada pohon tumbang menutup separuh jalan di {}, mohon segera dievakuasi sebelum ada korban.",
    "Jembatan kecil di {} retak dan goyang kalau dilewati motor, padahal anak sekolah lewat setiap hari.",
    "Tetangga di {} membakar sampah plastik tiap sore, asapnya bikin anak saya batuk-batuk terus.",
    "Usul dibuatkan taman bermain anak di lahan kosong dekat {}, selama ini anak-anak main di jalan raya.",
    "Bantuan sosial untuk lansia di {} belum cair sejak tiga bulan, mohon dicek datanya di DTKS.",
    "Parkir liar di depan pasar {} bikin macet setiap pagi, petugas Dishub tidak pernah terlihat.",
    "Lubang galian kabel di trotoar {} dibiarkan terbuka tanpa tanda, sangat berbahaya bagi pejalan kaki.",
    "Ada pungutan Rp50.000 untuk surat pengantar di kantor desa {}, apakah itu resmi? Mohon ditindaklanjuti.",
    "Puskesmas di {} sering tutup sebelum jam 12 siang, pasien dari jauh terpaksa pulang tanpa diperiksa.",
];

/// Places inserted into [`TEXTS`].
const PLACES: &[&str] = &[
    "Jl. Merdeka RT 03/RW 05",
    "Kelurahan Sukamaju",
    "Jl. Ahmad Yani dekat SDN 2",
    "Perumahan Griya Asri Blok C",
    "Desa Sumberrejo",
    "Jl. Diponegoro No. 17",
    "Kampung Baru RT 01",
    "Gang Melati, Kelurahan Kebonsari",
    "Jl. Pahlawan depan masjid",
    "Dusun Krajan",
];

/// What is needed to rebuild a message's exact body, kept instead of the body itself so the set
/// of acknowledged messages stays small during long runs.
#[derive(Debug, Clone, Copy)]
struct Seed {
    n: u64,
    text: u8,
    place: u8,
    received_at_ms: i64,
}

/// The `generic` SMS provider's body.
#[derive(serde::Serialize)]
struct SmsBody<'a> {
    id: &'a str,
    from: &'a str,
    text: &'a str,
    received_at: &'a str,
}

/// Builds message bodies and their signatures for one run.
struct Workload {
    /// Random per run, so two runs never share ids or senders.
    run_tag: String,
    sender_offset: u64,
    mac: Hmac<Sha256>,
}

impl Workload {
    fn new(secret: &str) -> Result<Self> {
        let mut rng = rand::rng();
        Ok(Self {
            run_tag: random_hex(4),
            sender_offset: rng.random_range(0..SENDER_SPACE),
            mac: Hmac::<Sha256>::new_from_slice(secret.as_bytes())
                .map_err(|err| anyhow!("bad HMAC key: {err}"))?,
        })
    }

    fn id(&self, n: u64) -> String {
        format!("bench-{}-{n}", self.run_tag)
    }

    fn sender(&self, n: u64) -> String {
        let digits = (n % SENDER_SPACE)
            .wrapping_mul(SENDER_MULTIPLIER)
            .wrapping_add(self.sender_offset)
            % SENDER_SPACE;
        format!("+62812{digits:08}")
    }

    fn body(&self, seed: &Seed) -> Result<Bytes> {
        let template = TEXTS[usize::from(seed.text) % TEXTS.len()];
        let text = template.replacen("{}", PLACES[usize::from(seed.place) % PLACES.len()], 1);
        let received_at = DateTime::<Utc>::from_timestamp_millis(seed.received_at_ms)
            .ok_or_else(|| anyhow!("timestamp out of range"))?
            .to_rfc3339_opts(SecondsFormat::Millis, true);
        let body = SmsBody {
            id: &self.id(seed.n),
            from: &self.sender(seed.n),
            text: &text,
            received_at: &received_at,
        };
        Ok(Bytes::from(serde_json::to_vec(&body)?))
    }

    fn signature(&self, body: &[u8]) -> Result<HeaderValue> {
        let mut mac = self.mac.clone();
        mac.update(body);
        let digest = mac.finalize().into_bytes();
        Ok(HeaderValue::from_str(&format!(
            "sha256={}",
            hex::encode(digest)
        ))?)
    }
}

/// State shared by the client tasks of one run.
struct LoadShared {
    addr: SocketAddr,
    host: HeaderValue,
    workload: Workload,
    next_n: AtomicU64,
    acked: Mutex<Vec<Seed>>,
    measure_start: Instant,
    end: Instant,
}

impl LoadShared {
    /// Picks the next message: a replay of an acknowledged one, or a new one.
    fn pick(&self, rng: &mut SmallRng) -> (Seed, bool) {
        if rng.random_bool(REPLAY_SHARE) {
            let acked = self.acked.lock().unwrap_or_else(PoisonError::into_inner);
            if !acked.is_empty() {
                return (acked[rng.random_range(0..acked.len())], false);
            }
        }
        let seed = Seed {
            n: self.next_n.fetch_add(1, Ordering::Relaxed),
            text: rng.random_range(0..TEXTS.len()) as u8,
            place: rng.random_range(0..PLACES.len()) as u8,
            received_at_ms: Utc::now().timestamp_millis(),
        };
        (seed, true)
    }

    fn acknowledge(&self, seed: Seed) {
        self.acked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(seed);
    }

    fn request(&self, seed: &Seed) -> Result<Request<Full<Bytes>>> {
        let body = self.workload.body(seed)?;
        let signature = self.workload.signature(&body)?;
        Ok(Request::builder()
            .method(Method::POST)
            .uri(WEBHOOK_PATH)
            .header(HOST, self.host.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header("x-salur-signature", signature)
            .body(Full::new(body))?)
    }
}

// ---------------------------------------------------------------------------------------------
// Load generator
// ---------------------------------------------------------------------------------------------

/// Figures of one load run (the measured phase only, except `acked`).
struct LoadReport {
    workload: Workload,
    /// Latencies in microseconds, sorted.
    latencies_us: Vec<u32>,
    status_2xx: u64,
    status_4xx: u64,
    status_5xx: u64,
    status_other: u64,
    errors: u64,
    measured: Duration,
    /// New messages answered 2xx during warm-up and measurement.
    acked: Vec<Seed>,
}

impl LoadReport {
    fn rate(&self) -> f64 {
        let done = self.status_2xx + self.status_4xx + self.status_5xx + self.status_other;
        let secs = self.measured.as_secs_f64();
        if secs > 0.0 { done as f64 / secs } else { 0.0 }
    }

    fn percentile_ms(&self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let last = self.latencies_us.len() - 1;
        let index = ((last as f64) * q).round() as usize;
        f64::from(self.latencies_us[index.min(last)]) / 1000.0
    }
}

/// What one client task saw.
#[derive(Default)]
struct TaskTally {
    latencies_us: Vec<u32>,
    status_2xx: u64,
    status_4xx: u64,
    status_5xx: u64,
    status_other: u64,
    errors: u64,
    last_finish: Option<Instant>,
}

impl TaskTally {
    fn record(&mut self, status: StatusCode, latency: Duration) {
        self.latencies_us
            .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
        match status.as_u16() {
            200..=299 => self.status_2xx += 1,
            400..=499 => self.status_4xx += 1,
            500..=599 => self.status_5xx += 1,
            _ => self.status_other += 1,
        }
    }
}

/// Warms up, then measures, with one task per connection.
async fn run_load(addr: SocketAddr, secret: &str, args: &Args) -> Result<LoadReport> {
    let start = Instant::now();
    let measure_start = start + args.warmup;
    let shared = Arc::new(LoadShared {
        addr,
        host: HeaderValue::from_str(&addr.to_string())?,
        workload: Workload::new(secret)?,
        next_n: AtomicU64::new(0),
        acked: Mutex::new(Vec::new()),
        measure_start,
        end: measure_start + args.duration,
    });
    let expected = usize::try_from(args.duration.as_secs().saturating_mul(2048)).unwrap_or(0);
    let per_task = expected / usize::from(args.connections);
    let tasks: Vec<_> = (0..args.connections)
        .map(|_| tokio::spawn(client_task(Arc::clone(&shared), per_task)))
        .collect();

    let mut latencies_us = Vec::new();
    let mut report_counts = TaskTally::default();
    let mut last_finish = measure_start;
    for task in tasks {
        let tally = task.await.context("a client task panicked")??;
        latencies_us.extend_from_slice(&tally.latencies_us);
        report_counts.status_2xx += tally.status_2xx;
        report_counts.status_4xx += tally.status_4xx;
        report_counts.status_5xx += tally.status_5xx;
        report_counts.status_other += tally.status_other;
        report_counts.errors += tally.errors;
        if let Some(finish) = tally.last_finish {
            last_finish = last_finish.max(finish);
        }
    }
    latencies_us.sort_unstable();

    let shared = Arc::into_inner(shared)
        .ok_or_else(|| anyhow!("client state still shared after the run"))?;
    Ok(LoadReport {
        workload: shared.workload,
        latencies_us,
        status_2xx: report_counts.status_2xx,
        status_4xx: report_counts.status_4xx,
        status_5xx: report_counts.status_5xx,
        status_other: report_counts.status_other,
        errors: report_counts.errors,
        measured: last_finish.saturating_duration_since(measure_start),
        acked: shared
            .acked
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner),
    })
}

/// One keep-alive connection sending requests back to back until the end of the run.
async fn client_task(shared: Arc<LoadShared>, capacity: usize) -> Result<TaskTally> {
    let mut rng = SmallRng::from_rng(&mut rand::rng());
    let mut tally = TaskTally {
        latencies_us: Vec::with_capacity(capacity),
        ..TaskTally::default()
    };
    let mut connection: Option<SendRequest<Full<Bytes>>> = None;
    while Instant::now() < shared.end {
        let sender = match connection.as_mut() {
            Some(sender) => sender,
            None => match connect(shared.addr).await {
                Ok(sender) => connection.insert(sender),
                Err(_) => {
                    if Instant::now() >= shared.measure_start {
                        tally.errors += 1;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        if sender.ready().await.is_err() {
            connection = None;
            continue;
        }
        let (seed, is_new) = shared.pick(&mut rng);
        let request = shared.request(&seed)?;
        let started = Instant::now();
        let outcome = tokio::time::timeout(REQUEST_TIMEOUT, async {
            let response = sender.send_request(request).await?;
            let status = response.status();
            response.into_body().collect().await?;
            Ok::<_, hyper::Error>(status)
        })
        .await;
        let finished = Instant::now();
        let measured = started >= shared.measure_start;
        match outcome {
            Ok(Ok(status)) => {
                if is_new && status.is_success() {
                    shared.acknowledge(seed);
                }
                if measured {
                    tally.record(status, finished - started);
                }
            }
            Ok(Err(_)) | Err(_) => {
                connection = None;
                if measured {
                    tally.errors += 1;
                }
            }
        }
        if measured {
            tally.last_finish = Some(finished);
        }
    }
    Ok(tally)
}

/// Opens one HTTP/1.1 connection with TCP_NODELAY.
async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

// ---------------------------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------------------------

/// Samples a process's `VmRSS` on a thread of its own, keeping the largest value.
struct RssSampler {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<Option<u64>>,
}

impl RssSampler {
    fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let mut peak = None;
            while !flag.load(Ordering::Relaxed) {
                peak = peak.max(read_status_kib(pid, "VmRSS:"));
                std::thread::sleep(RSS_INTERVAL);
            }
            peak.max(read_status_kib(pid, "VmRSS:"))
        });
        Self { stop, handle }
    }

    fn stop(self) -> Option<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().ok().flatten()
    }
}

/// Reads one `kB` field of `/proc/<pid>/status`.
fn read_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_kib(&status, field)
}

fn parse_status_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|value| value.parse().ok())
}

// ---------------------------------------------------------------------------------------------
// The ceiling
// ---------------------------------------------------------------------------------------------

/// Serves a do-nothing webhook on a default multi-thread runtime until SIGTERM.
fn serve_ceiling(port: u16) -> Result<()> {
    use axum::serve::ListenerExt as _;

    async fn accept(_body: Bytes) -> StatusCode {
        StatusCode::OK
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let app = axum::Router::new()
            .route(WEBHOOK_PATH, axum::routing::post(accept))
            .route("/readyz", axum::routing::get(|| async { StatusCode::OK }));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await?
            .tap_io(|stream| {
                let _ = stream.set_nodelay(true);
            });
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                terminate.recv().await;
            })
            .await?;
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn create() -> Result<Self> {
        let path = std::env::temp_dir().join(format!("salur-bench-{}", random_hex(8)));
        std::fs::create_dir(&path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Self(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A port that was free a moment ago.
fn free_port() -> Result<u16> {
    let listener =
        std::net::TcpListener::bind(("127.0.0.1", 0)).context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0_u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

/// Replaces the database name in a PostgreSQL URL, keeping its authority and query.
fn with_database(url: &str, database: &str) -> Result<String> {
    let scheme_end = url
        .find("://")
        .ok_or_else(|| anyhow!("--pg-url is not a URL: it has no scheme"))?
        + 3;
    let rest = &url[scheme_end..];
    let query = rest.find('?').map_or("", |at| &rest[at..]);
    let before_query = &rest[..rest.len() - query.len()];
    let authority = before_query
        .find('/')
        .map_or(before_query, |at| &before_query[..at]);
    Ok(format!(
        "{}{authority}/{database}{query}",
        &url[..scheme_end]
    ))
}

/// The last lines of a server log.
fn log_tail(path: &Path) -> String {
    const LINES: usize = 40;
    match std::fs::read_to_string(path) {
        Ok(log) => {
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(LINES)..];
            if tail.is_empty() {
                "(empty)".to_owned()
            } else {
                tail.join("\n")
            }
        }
        Err(err) => format!("(cannot read {}: {err})", path.display()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn workload() -> Workload {
        Workload::new("rahasia").unwrap()
    }

    #[test]
    fn texts_are_sms_sized() {
        for template in TEXTS {
            for place in PLACES {
                let text = template.replacen("{}", place, 1);
                let chars = text.chars().count();
                assert!((60..=200).contains(&chars), "{chars} chars: {text}");
            }
        }
        assert!(TEXTS.len() <= usize::from(u8::MAX) && PLACES.len() <= usize::from(u8::MAX));
    }

    #[test]
    fn body_is_the_generic_provider_json_and_rebuilds_identically() {
        let workload = workload();
        let seed = Seed {
            n: 42,
            text: 3,
            place: 7,
            received_at_ms: 1_750_000_000_123,
        };
        let body = workload.body(&seed).unwrap();
        assert_eq!(body, workload.body(&seed).unwrap());
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["id"], workload.id(42));
        assert_eq!(json["received_at"], "2025-06-15T15:06:40.123Z");
        let from = json["from"].as_str().unwrap();
        assert!(from.starts_with("+62812") && from.len() == 14, "{from}");
        assert!(from[1..].bytes().all(|b| b.is_ascii_digit()));
        assert!(json["text"].as_str().unwrap().contains("Gang Melati"));
    }

    #[test]
    fn senders_are_distinct() {
        let workload = workload();
        let senders: HashSet<String> = (0..100_000).map(|n| workload.sender(n)).collect();
        assert_eq!(senders.len(), 100_000);
    }

    #[test]
    fn signature_is_hex_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        let mut workload = workload();
        workload.mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        let signature = workload.signature(b"what do ya want for nothing?").unwrap();
        assert_eq!(
            signature,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn database_is_replaced_in_postgres_urls() {
        let cases = [
            (
                "postgres://postgres@127.0.0.1:5432/postgres",
                "postgres://postgres@127.0.0.1:5432/x",
            ),
            (
                "postgres://u:p@h/db?sslmode=disable",
                "postgres://u:p@h/x?sslmode=disable",
            ),
            ("postgresql://h:5432", "postgresql://h:5432/x"),
            (
                "postgres://h?sslmode=require",
                "postgres://h/x?sslmode=require",
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(with_database(url, "x").unwrap(), expected);
        }
        assert!(with_database("not a url", "x").is_err());
    }

    #[test]
    fn status_fields_are_parsed_in_kib() {
        let status = "Name:\tsalur\nVmHWM:\t   51234 kB\nVmRSS:\t   40960 kB\n";
        assert_eq!(parse_status_kib(status, "VmRSS:"), Some(40_960));
        assert_eq!(parse_status_kib(status, "VmHWM:"), Some(51_234));
        assert_eq!(parse_status_kib(status, "VmSwap:"), None);
    }

    #[test]
    fn percentiles_pick_from_sorted_latencies() {
        let report = LoadReport {
            workload: workload(),
            latencies_us: (1..=1000).collect(),
            status_2xx: 1000,
            status_4xx: 0,
            status_5xx: 0,
            status_other: 0,
            errors: 0,
            measured: Duration::from_secs(2),
            acked: Vec::new(),
        };
        assert!((report.rate() - 500.0).abs() < f64::EPSILON);
        assert!((report.percentile_ms(0.50) - 0.501).abs() < 1e-9);
        assert!((report.percentile_ms(0.99) - 0.990).abs() < 1e-9);
    }
}
