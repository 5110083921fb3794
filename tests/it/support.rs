//! Shared test helpers: service discovery with skip-or-fail semantics, fresh
//! databases, and the real app started in-process on a random port.

#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use salur::app::App;
use salur::config::{Environment, Settings};
use salur::store::{Op, Result as StoreResult, Tx};
use tokio::sync::watch;

/// PostgreSQL admin URL for creating test databases.
pub const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// NATS address.
pub const NATS_URL: &str = "nats://127.0.0.1:4222";
/// The generic SMS channel's secret in test configs.
pub const SMS_SECRET: &str = "test-sms-secret";
/// The API token in test configs.
pub const API_TOKEN: &str = "test-api-token";

/// Whether the environment demands every external service (CI sets this).
pub fn services_required() -> bool {
    std::env::var("SALUR_TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1" || v == "true")
}

/// Checks that a TCP service answers at `addr`. When it does not, the test
/// is skipped with a printed reason, or fails when services are required.
/// Returns `false` when the caller should return early (skip).
pub async fn service_available(what: &str, addr: &str) -> bool {
    let ok = tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr))
        .await
        .is_ok_and(|r| r.is_ok());
    if ok {
        return true;
    }
    if services_required() {
        panic!("{what} is required (SALUR_TEST_REQUIRE_SERVICES=1) but not reachable at {addr}");
    }
    eprintln!("SKIP: {what} not reachable at {addr}");
    false
}

/// The storage backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite in a temporary folder.
    Sqlite,
    /// A fresh PostgreSQL database.
    Postgres,
}

/// A fresh, empty database for one test.
pub struct TestDb {
    /// `sqlite://…` or `postgres://…`.
    pub url: String,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// Creates the database, or `None` when the backend's server is absent
    /// (and services are not required).
    pub async fn new(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("salur.db").display());
                Some(Self {
                    url,
                    pg_name: None,
                    _dir: Some(dir),
                })
            }
            Backend::Postgres => {
                if !service_available("PostgreSQL", "127.0.0.1:5432").await {
                    return None;
                }
                let name = format!(
                    "salur_test_{}",
                    ulid::Ulid::new().to_string().to_lowercase()
                );
                let admin = sqlx::PgPool::connect(PG_ADMIN)
                    .await
                    .expect("connect to PostgreSQL");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&admin)
                    .await
                    .expect("create test database");
                admin.close().await;
                Some(Self {
                    url: format!("postgres://postgres@127.0.0.1:5432/{name}"),
                    pg_name: Some(name),
                    _dir: None,
                })
            }
        }
    }

    /// Drops a PostgreSQL test database.
    pub async fn drop_db(self) {
        if let Some(name) = self.pg_name
            && let Ok(admin) = sqlx::PgPool::connect(PG_ADMIN).await
        {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&admin)
            .await;
            admin.close().await;
        }
    }
}

/// The config a test app runs with: `extra` is appended TOML (sinks, more
/// channels, `[intake]` overrides are set through `intake`).
pub fn config_toml(db_url: &str, intake: &str, extra: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
body_limit = 65536

[database]
url = "{db_url}"
max_connections = 8

[api]
tokens = ["env:T_API_TOKEN"]

[intake]
{intake}

[outbox]
retry_schedule = ["100ms", "100ms", "100ms", "100ms", "100ms"]
poll_interval = "100ms"

[log]
level = "warn"

[[channels]]
name = "sms-utama"
kind = "sms"
provider = "generic"
secret = "env:T_SMS_SECRET"

[[channels]]
name = "sms-rakit"
kind = "sms"
provider = "generic"
secret = "env:T_SMS_SECRET"
assemble = false

{extra}
"#
    )
}

/// The environment test configs read their secrets from.
pub fn test_env(extra: &[(&str, &str)]) -> Environment {
    let mut vars: Vec<(String, String)> = vec![
        ("T_API_TOKEN".into(), API_TOKEN.into()),
        ("T_SMS_SECRET".into(), SMS_SECRET.into()),
    ];
    vars.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    vars.into_iter().collect()
}

/// The real app, serving on a random loopback port.
pub struct TestApp {
    /// `http://127.0.0.1:port`.
    pub base: String,
    /// The app.
    pub app: Arc<App>,
    /// HTTP client.
    pub http: reqwest::Client,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
    workers: Vec<tokio::task::JoinHandle<()>>,
    _config_dir: tempfile::TempDir,
}

impl TestApp {
    /// Starts the app with `toml` as its config file.
    pub async fn start(toml: &str, env: &Environment) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_on(listener, toml, env).await
    }

    /// Starts the app serving on `listener`, for tests that must tell a
    /// peer the app's address before the app starts.
    pub async fn start_on(
        listener: tokio::net::TcpListener,
        toml: &str,
        env: &Environment,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("salur.toml");
        // Downloaded media go to the test's own folder, not the checkout.
        let toml = if toml.contains("media_dir") {
            toml.to_owned()
        } else {
            let media = dir.path().join("media");
            toml.replacen(
                "[intake]\n",
                &format!("[intake]\nmedia_dir = \"{}\"\n", media.display()),
                1,
            )
        };
        std::fs::write(&path, toml).unwrap();
        let settings = Settings::load_with_env(Some(&path), env).expect("valid test config");
        let app = App::build(settings).await.expect("app builds");
        app.store.migrate().await.expect("migrations apply");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stop_rx) = watch::channel(false);
        let workers = app.spawn_workers(stop_rx.clone());
        let router = salur::web::router(app.clone());
        let mut rx = stop_rx;
        let server = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = rx.changed().await;
                })
                .await
                .unwrap();
        });
        Self {
            base,
            app,
            http: reqwest::Client::new(),
            stop,
            server,
            workers,
            _config_dir: dir,
        }
    }

    /// Starts the app on a backend with the default test config.
    pub async fn on(backend: Backend, intake: &str, extra: &str) -> Option<(Self, TestDb)> {
        let db = TestDb::new(backend).await?;
        let app = Self::start(&config_toml(&db.url, intake, extra), &test_env(&[])).await;
        Some((app, db))
    }

    /// Stops serving, drains workers and closes the store.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.server.await;
        for w in self.workers {
            let _ = w.await;
        }
        self.app.store.close().await;
    }

    /// Posts a generic SMS, signed with the test secret.
    pub async fn post_sms(&self, channel: &str, body: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/webhooks/sms/{channel}", self.base))
            .header("content-type", "application/json")
            .header("x-salur-signature", sign(body))
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }

    /// Posts a generic SMS, expects 200, and waits until the processor has
    /// joined it to a complaint. Returns the webhook answer with
    /// `complaint_id` and `tracking_code` (the code the citizen is given:
    /// the first complaint's, for a duplicate) filled in.
    pub async fn sms(&self, channel: &str, body: &str) -> serde_json::Value {
        let r = self.post_sms(channel, body).await;
        assert_eq!(r.status(), 200, "posting {body}");
        let mut answer: serde_json::Value = r.json().await.unwrap();
        let message_id = answer["message_id"].as_str().unwrap().to_owned();
        let complaint_id = eventually(Duration::from_secs(10), || async {
            let m: serde_json::Value = self
                .api_get(&format!("/api/v1/messages/{message_id}"))
                .await
                .json()
                .await
                .ok()?;
            m["complaint_id"].as_str().map(str::to_owned)
        })
        .await
        .expect("message processed into a complaint");
        let c: serde_json::Value = self
            .api_get(&format!("/api/v1/complaints/{complaint_id}"))
            .await
            .json()
            .await
            .unwrap();
        let mut code = c["tracking_code"].clone();
        if let Some(first) = c["duplicate_of"].as_str() {
            let f: serde_json::Value = self
                .api_get(&format!("/api/v1/complaints/{first}"))
                .await
                .json()
                .await
                .unwrap();
            code = f["tracking_code"].clone();
        }
        answer["complaint_id"] = serde_json::Value::String(complaint_id);
        answer["tracking_code"] = code;
        answer
    }

    /// A complaint through the API, by id or tracking code; expects 200.
    pub async fn complaint(&self, id: &str) -> serde_json::Value {
        let r = self.api_get(&format!("/api/v1/complaints/{id}")).await;
        assert_eq!(r.status(), 200, "GET complaint {id}");
        r.json().await.unwrap()
    }

    /// GET with the API token.
    pub async fn api_get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .unwrap()
    }

    /// Runs a read op.
    pub async fn read<O: Op>(&self, op: O) -> O::Output {
        self.app.store.read(op).await.unwrap()
    }

    /// Row counts.
    pub async fn counts(&self) -> Counts {
        self.read(CountAll).await
    }
}

/// `sha256=<hex>` signature of `body` with the test secret.
pub fn sign(body: &str) -> String {
    format!(
        "sha256={}",
        salur_channel_sms::signature::hmac_sha256_hex(SMS_SECRET.as_bytes(), body.as_bytes())
    )
}

/// A generic SMS body.
pub fn sms_body(id: &str, from: &str, text: &str) -> String {
    serde_json::json!({ "id": id, "from": from, "text": text }).to_string()
}

/// Row counts of the main tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// inbound_messages
    pub messages: i64,
    /// complaints
    pub complaints: i64,
    /// outbox_events
    pub events: i64,
    /// deliveries
    pub deliveries: i64,
}

/// Counts rows.
pub struct CountAll;

impl Op for CountAll {
    type Output = Counts;

    async fn run<C: Tx>(&mut self, c: &mut C) -> StoreResult<Counts> {
        let complaints = c.count_complaints().await?;
        let stats = c.outbox_stats().await?;
        let _ = stats;
        let messages = c.count_rows("inbound_messages").await?;
        let events = c.count_rows("outbox_events").await?;
        let deliveries = c.count_rows("deliveries").await?;
        Ok(Counts {
            messages,
            complaints,
            events,
            deliveries,
        })
    }
}

/// A loopback port nothing listens on (for a server started as a process).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `op` on the database at `url`, from outside any app (the server
/// under test runs as its own process).
pub async fn read_at<O: Op>(url: &str, op: O) -> O::Output {
    let store = salur::store::Store::open(&salur::store::StoreOptions {
        url: url.to_owned(),
        max_connections: 2,
        sqlite_synchronous_full: true,
        write_batch_max: 16,
    })
    .await
    .unwrap();
    let out = store.read(op).await.unwrap();
    store.close().await;
    out
}

/// Polls `f` until it returns `Some`, for at most `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if tokio::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Declares a test that runs once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! both_backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::support::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::support::Backend::Postgres).await;
            }
        }
    };
}
