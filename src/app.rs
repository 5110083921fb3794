//! The running service: configuration, storage, channels and sinks, and
//! the background tasks that `salur serve` starts.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::http::{HeaderMap, Uri};
use salur_channels_core::InboundMessage;
use secrecy::ExposeSecret;
use tokio::sync::{Notify, watch};

use crate::channels::Channels;
use crate::config::{Settings, SinkConfig, SqliteSynchronous};
use crate::intake::{Ingest, IntakeSettings, Outcome, Prepared};
use crate::metrics::Metrics;
use crate::queue::dispatch::{DispatchSettings, Dispatcher, Worker};
use crate::queue::lazy::LazySink;
use crate::queue::sink::Sink;
use crate::queue::{nats, webhook};
use crate::store::{self, Store, StoreOptions};

/// Everything a request handler or worker needs.
pub struct App {
    /// The database.
    pub store: Store,
    /// The validated configuration.
    pub settings: Arc<Settings>,
    /// Channel adapters.
    pub channels: Channels,
    /// Intake settings.
    pub intake: Arc<IntakeSettings>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The extra sinks.
    pub sinks: Vec<Arc<dyn Sink>>,
    /// Wakes the dispatcher when events were written.
    pub dispatch_wake: Arc<Notify>,
    /// Wakes the processor when messages were claimed.
    pub process_wake: Arc<Notify>,
    /// Wakes the replier when replies may have been queued.
    pub reply_wake: Arc<Notify>,
    /// Wakes the media fetcher when attachments may have been recorded.
    pub media_wake: Arc<Notify>,
    /// Largest accepted request body.
    pub body_limit: usize,
}

/// Store options from the configuration.
pub fn store_options(settings: &Settings) -> StoreOptions {
    let db = &settings.config().database;
    StoreOptions {
        url: db.url.clone(),
        max_connections: db.max_connections,
        sqlite_synchronous_full: matches!(db.sqlite_synchronous, SqliteSynchronous::Full),
        write_batch_max: db.write_batch_max,
    }
}

/// How the outbox dispatcher and the replier claim and retry.
fn dispatch_settings(c: &crate::config::Config) -> DispatchSettings {
    DispatchSettings {
        retry_schedule: c.outbox.retry_schedule.clone(),
        poll_interval: c.outbox.poll_interval,
        batch_size: c.outbox.batch_size,
        lease: c.outbox.lease,
    }
}

/// Sink names are stable ids stored with each delivery: the configured
/// `name`, else the kind, numbered when the kind repeats.
fn sink_names(settings: &Settings) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (i, s) in settings.sinks().enumerate() {
        let base = s
            .config
            .name()
            .map_or_else(|| s.config.kind().to_owned(), str::to_owned);
        let name = if names.contains(&base) {
            format!("{base}-{i}")
        } else {
            base
        };
        names.push(name);
    }
    names
}

fn build_sinks(settings: &Settings, names: &[String]) -> anyhow::Result<Vec<Arc<dyn Sink>>> {
    let mut sinks: Vec<Arc<dyn Sink>> = Vec::new();
    for (s, name) in settings.sinks().zip(names) {
        let sink: Arc<dyn Sink> = match s.config {
            SinkConfig::Nats(n) => {
                let (name2, url, stream, prefix) = (
                    name.clone(),
                    n.url.clone(),
                    n.stream.clone(),
                    n.subject_prefix.clone(),
                );
                let creds = s.secret.map(|x| x.expose_secret().to_owned());
                Arc::new(LazySink::new(
                    name.clone(),
                    Arc::new(move || {
                        let (name, url, stream, prefix, creds) = (
                            name2.clone(),
                            url.clone(),
                            stream.clone(),
                            prefix.clone(),
                            creds.clone(),
                        );
                        Box::pin(async move {
                            let sink = nats::NatsSink::connect(
                                name,
                                &url,
                                &stream,
                                &prefix,
                                creds.as_deref(),
                            )
                            .await?;
                            Ok(Arc::new(sink) as Arc<dyn Sink>)
                        })
                    }),
                ))
            }
            SinkConfig::Webhook(w) => {
                let secret = s.secret.context("webhook sink without a secret")?;
                Arc::new(
                    webhook::WebhookSink::new(
                        name.clone(),
                        w.url.clone(),
                        secret.expose_secret(),
                        w.timeout,
                    )
                    .map_err(|e| anyhow::anyhow!("sink `{name}`: {e}"))?,
                )
            }
        };
        sinks.push(sink);
    }
    Ok(sinks)
}

impl App {
    /// Opens storage and builds channels and sinks. Does not migrate.
    ///
    /// # Errors
    /// When storage cannot be opened or a channel or sink cannot be built.
    pub async fn build(settings: Settings) -> anyhow::Result<Arc<Self>> {
        let channels = Channels::build(&settings)
            .map_err(|errors| anyhow::anyhow!("{}", crate::config::report(&errors)))?;
        let store = Store::open(&store_options(&settings))
            .await
            .context("opening the database")?;
        let names = sink_names(&settings);
        let sinks = build_sinks(&settings, &names)?;
        let c = settings.config();
        let intake = Arc::new(IntakeSettings {
            quiet_period: chrono::Duration::from_std(c.intake.quiet_period)?,
            duplicate_window: chrono::Duration::from_std(c.intake.duplicate_window)?,
            default_region: c.intake.default_region.clone(),
            sinks: names,
            part_timeout: chrono::Duration::from_std(c.intake.part_timeout)?,
            replies: crate::replies::ReplyPolicy {
                channels: channels.reply_channels(),
                guided: channels.guided_channels(),
                texts: crate::replies::ReplyTexts::builtin(&c.intake.reply_language)
                    .map_err(anyhow::Error::msg)?,
                languages: ["id", "en"]
                    .into_iter()
                    .map(|l| Ok((l.to_owned(), crate::replies::ReplyTexts::builtin(l)?)))
                    .collect::<Result<_, String>>()
                    .map_err(anyhow::Error::msg)?,
                per_number: i64::from(c.intake.reply_limit),
                window: chrono::Duration::from_std(c.intake.reply_window)?,
            },
            assemble: channels.assemble_flags(),
        });
        Ok(Arc::new(Self {
            store,
            body_limit: c.server.body_limit,
            settings: Arc::new(settings),
            channels,
            intake,
            metrics: Arc::new(Metrics::new()),
            sinks,
            dispatch_wake: Arc::new(Notify::new()),
            process_wake: Arc::new(Notify::new()),
            reply_wake: Arc::new(Notify::new()),
            media_wake: Arc::new(Notify::new()),
        }))
    }

    /// Stores one webhook message durably and returns once it is committed.
    /// The message joins its complaint moments later, in the processor, so
    /// acknowledging the provider never waits on complaint work.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn ingest(&self, message: InboundMessage) -> store::Result<Outcome> {
        let row = crate::intake::claim_row(&message, &self.intake.default_region)?;
        let channel = row.channel_name.clone();
        let claimed = self.store.claim(row).await?;
        self.metrics.stored(&channel, claimed.replay, false);
        if !claimed.replay {
            self.process_wake.notify_one();
        }
        Ok(Outcome {
            message_id: claimed.message_id,
            complaint_id: claimed.complaint_id,
            tracking_code: claimed.tracking_code,
            replay: claimed.replay,
            created: false,
            duplicate_of: None,
        })
    }

    /// Stores a message and joins or opens its complaint in one transaction
    /// (manual and API intake, which answer with the complaint).
    ///
    /// # Errors
    /// Storage errors.
    pub async fn ingest_prepared(&self, prepared: Prepared) -> store::Result<Outcome> {
        let channel = prepared.message.channel_name.clone();
        let outcome = self
            .store
            .write(Ingest::new(prepared, self.intake.clone()))
            .await?;
        self.metrics
            .stored(&channel, outcome.replay, outcome.duplicate_of.is_some());
        if !outcome.replay && !self.sinks.is_empty() {
            self.dispatch_wake.notify_one();
        }
        Ok(outcome)
    }

    /// The URL the provider called, as the provider saw it: `server.public_url`
    /// when set (proxies rewrite scheme and host), else the Host header.
    pub fn public_url_for(&self, uri: &Uri, headers: &HeaderMap) -> String {
        let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
        match &self.settings.config().server.public_url {
            Some(base) => format!("{}{}", base.trim_end_matches('/'), path_and_query),
            None => {
                let host = headers
                    .get(axum::http::header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or("localhost");
                format!("http://{host}{path_and_query}")
            }
        }
    }

    /// A leased-queue worker on this app's store and schedule, started by
    /// `wake`.
    fn worker(&self, wake: &Arc<Notify>) -> Worker {
        Worker {
            store: self.store.clone(),
            settings: dispatch_settings(self.settings.config()),
            wake: wake.clone(),
            metrics: self.metrics.clone(),
        }
    }

    /// Starts the sealer and the dispatcher. They stop when `shutdown` turns true.
    pub fn spawn_workers(
        self: &Arc<Self>,
        shutdown: watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let c = self.settings.config();
        let mut tasks = vec![
            tokio::spawn(crate::assemble::run_sealer(
                self.store.clone(),
                self.intake.clone(),
                c.intake.seal_interval,
                shutdown.clone(),
            )),
            tokio::spawn(crate::intake::run_processor(
                self.store.clone(),
                crate::intake::ProcessPending {
                    settings: self.intake.clone(),
                    limit: PROCESS_BATCH,
                },
                self.process_wake.clone(),
                c.intake.seal_interval,
                vec![
                    self.dispatch_wake.clone(),
                    self.reply_wake.clone(),
                    self.media_wake.clone(),
                ],
                shutdown.clone(),
            )),
        ];
        for (name, bot) in self.channels.telegram_bots() {
            if bot.mode == crate::config::TelegramMode::Polling {
                tasks.push(tokio::spawn(crate::telegram::run_poller(
                    self.clone(),
                    name,
                    bot,
                    shutdown.clone(),
                )));
            }
        }
        for (name, setup) in self.channels.mail_channels() {
            for mailbox in setup.mailboxes.iter().filter(|_| setup.imap.is_some()) {
                tasks.push(tokio::spawn(crate::email::run_mailbox(
                    self.clone(),
                    name.clone(),
                    mailbox.clone(),
                    setup.clone(),
                    shutdown.clone(),
                )));
            }
        }
        let senders = self.channels.senders();
        if !senders.is_empty() {
            let replier = crate::replies::Replier::new(self.worker(&self.reply_wake), senders);
            tasks.push(tokio::spawn(replier.run(shutdown.clone())));
        }
        let mut sources = self.channels.media_sources();
        for (name, _) in self.channels.mail_channels() {
            let stored = crate::email::StoredMail::new(self.store.clone(), name.clone());
            sources.insert(name, Arc::new(stored));
        }
        if !sources.is_empty() {
            let fetcher = crate::media::MediaFetcher::new(
                self.worker(&self.media_wake),
                sources,
                c.intake.media_dir.clone(),
                c.intake.media_max_bytes,
            );
            tasks.push(tokio::spawn(fetcher.run(shutdown.clone())));
        }
        if !self.sinks.is_empty() {
            let dispatcher = Dispatcher::new(self.worker(&self.dispatch_wake), self.sinks.clone());
            tasks.push(tokio::spawn(dispatcher.run(shutdown)));
        }
        tasks
    }
}

/// Runs the server until SIGINT or SIGTERM, then drains: in-flight requests
/// finish, workers finish their round, queued writes commit.
///
/// # Errors
/// Start-up failures (config, database, port).
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let listen = settings.config().server.listen;
    let grace = settings.config().server.shutdown_grace;
    let app = App::build(settings).await?;
    app.store
        .migrate()
        .await
        .context("migrating the database")?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    tracing::info!(%listen, backend = app.store.backend(), channels = app.channels.len(), "salur listening");
    let (stop_tx, stop_rx) = watch::channel(false);
    let workers = app.spawn_workers(stop_rx);
    let router = crate::web::router(app.clone());
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
    });
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")?;
    tracing::info!("shutting down: draining workers");
    let _ = stop_tx.send(true);
    let drain = futures_util::future::join_all(workers);
    if tokio::time::timeout(grace, drain).await.is_err() {
        tracing::warn!(?grace, "workers did not finish within the grace period");
    }
    app.store.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// Most stored messages the processor handles in one transaction; small, so
/// that claims queued behind it wait little.
const PROCESS_BATCH: i64 = 8;

/// How long readiness checks may take.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);
