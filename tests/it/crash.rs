//! `salur serve` under load is killed with SIGKILL and restarted: every
//! request that got a 2xx is in the database, and none twice.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use salur::store::{Op, Result as StoreResult, Tx};
use tokio::sync::Mutex;

use crate::support::{Backend, TestDb, config_toml, free_port, sign, sms_body};

/// Writes the test config for `db` on a free port; returns the folder that
/// holds it (keep it alive), the file and the base URL.
fn write_config(db: &TestDb) -> (tempfile::TempDir, std::path::PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let toml = config_toml(&db.url, "", "").replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    let config = dir.path().join("salur.toml");
    std::fs::write(&config, toml).unwrap();
    (dir, config, format!("http://127.0.0.1:{port}"))
}

/// The provider ids stored for `sms-rakit`, read after the server stopped.
async fn stored_provider_ids(db: &TestDb) -> Vec<String> {
    crate::support::read_at(&db.url, ProviderIds).await
}

fn spawn_server(config: &std::path::Path) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_salur"))
        .arg("serve")
        .arg("--config")
        .arg(config)
        .env("T_API_TOKEN", crate::support::API_TOKEN)
        .env("T_SMS_SECRET", crate::support::SMS_SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

async fn wait_ready(base: &str) {
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server at {base} never became ready");
}

struct ProviderIds;

impl Op for ProviderIds {
    type Output = Vec<String>;

    async fn run<C: Tx>(&mut self, c: &mut C) -> StoreResult<Vec<String>> {
        c.provider_ids("sms-rakit").await
    }
}

type Acked = Arc<Mutex<HashSet<String>>>;

/// `workers` clients posting unique signed SMS back to back until the
/// server stops answering; returns the ids that got a 2xx. A request that
/// failed because the server died has an unknown fate, which is allowed.
fn load(base: &str, tag: &str, workers: usize) -> (Acked, Vec<tokio::task::JoinHandle<()>>) {
    let acked: Acked = Arc::new(Mutex::new(HashSet::new()));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let clients = (0..workers)
        .map(|worker| {
            let (http, acked, base, tag) =
                (http.clone(), acked.clone(), base.to_owned(), tag.to_owned());
            tokio::spawn(async move {
                for i in 0..100_000 {
                    let id = format!("{tag}-{worker}-{i}");
                    let body =
                        sms_body(&id, &format!("0812{worker:02}{i:06}"), "Lampu jalan padam");
                    match http
                        .post(format!("{base}/webhooks/sms/sms-rakit"))
                        .header("x-salur-signature", sign(&body))
                        .body(body)
                        .send()
                        .await
                    {
                        Ok(r) if r.status().is_success() => {
                            acked.lock().await.insert(id);
                        }
                        _ => return,
                    }
                }
            })
        })
        .collect();
    (acked, clients)
}

struct Pending;

impl Op for Pending {
    type Output = i64;

    async fn run<C: Tx>(&mut self, c: &mut C) -> StoreResult<i64> {
        let messages = c.count_rows("inbound_messages").await?;
        let linked = c.count_rows("complaint_messages").await?;
        Ok(messages - linked)
    }
}

async fn kill_under_load(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (_dir, config, base) = write_config(&db);

    let mut server = spawn_server(&config);
    wait_ready(&base).await;

    let (acked, clients) = load(&base, "crash", 16);
    // Let load build up, then pull the plug.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.start_kill().unwrap();
    let _ = server.wait().await;
    for c in clients {
        let _ = c.await;
    }
    let acked = acked.lock().await.clone();
    assert!(
        acked.len() > 50,
        "the load produced acknowledged requests ({})",
        acked.len()
    );

    // Restart on the same database; the next start recovers the WAL.
    let mut server = spawn_server(&config);
    wait_ready(&base).await;
    // Replays of acknowledged ids after the restart create nothing.
    let http = reqwest::Client::new();
    for id in acked.iter().take(20) {
        let body = sms_body(id, "081200000000", "ulang");
        let r = http
            .post(format!("{base}/webhooks/sms/sms-rakit"))
            .header("x-salur-signature", sign(&body))
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    // Every stored message is processed after the restart, none lost.
    let processed = crate::support::eventually(Duration::from_secs(30), || async {
        let store = salur::store::Store::open(&salur::store::StoreOptions {
            url: db.url.clone(),
            max_connections: 1,
            sqlite_synchronous_full: true,
            write_batch_max: 1,
        })
        .await
        .ok()?;
        let pending = store.read(Pending).await.ok();
        store.close().await;
        (pending == Some(0)).then_some(())
    })
    .await;
    assert!(
        processed.is_some(),
        "all stored messages processed after the restart"
    );
    server.start_kill().unwrap();
    let _ = server.wait().await;

    let stored = stored_provider_ids(&db).await;
    let distinct: HashSet<&String> = stored.iter().collect();
    assert_eq!(distinct.len(), stored.len(), "no provider id stored twice");
    let missing: Vec<&String> = acked.iter().filter(|id| !distinct.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged ids lost, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    eprintln!(
        "crash test ({backend:?}): {} acknowledged, {} stored, 0 lost, 0 duplicated",
        acked.len(),
        stored.len()
    );
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    kill_under_load(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    kill_under_load(Backend::Postgres).await;
}

/// SIGTERM under load: the server stops taking connections, finishes the
/// requests in flight, commits queued writes and exits 0. Every 2xx is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_work() {
    let Some(db) = TestDb::new(Backend::Sqlite).await else {
        return;
    };
    let (_dir, config, base) = write_config(&db);
    let mut server = spawn_server(&config);
    wait_ready(&base).await;

    let (acked, clients) = load(&base, "term", 8);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let pid = server.id().unwrap().to_string();
    let killed = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(30), server.wait())
        .await
        .expect("drains and exits within the grace period")
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
    for c in clients {
        let _ = c.await;
    }
    let acked = acked.lock().await.clone();
    assert!(!acked.is_empty());
    let stored: HashSet<String> = stored_provider_ids(&db).await.into_iter().collect();
    let missing = acked.iter().filter(|id| !stored.contains(*id)).count();
    assert_eq!(missing, 0, "every acknowledged message is stored");
}
