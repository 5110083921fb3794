//! The command line: `serve`, `migrate`, `check-config`, `replay`,
//! `reprocess` and `gammu-receive`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::{ConfigError, Settings};

/// Salur: messaging-channel ingestion gateway for public complaint handling.
#[derive(Parser, Debug)]
#[command(name = "salur", version, about)]
pub struct Cli {
    /// Configuration file (TOML). Without it, the built-in defaults apply:
    /// SQLite under ./salur-data/, listening on 127.0.0.1:8080.
    #[arg(long, short, global = true, env = "SALUR_CONFIG")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server: webhooks, API, sealer and dispatcher. Migrates first.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Check the configuration and print every problem, field by field.
    CheckConfig,
    /// Re-send outbox deliveries that were given up (dead letters).
    Replay {
        /// Only this event (`evt_…`).
        #[arg(long)]
        event: Option<String>,
        /// Only deliveries to this sink.
        #[arg(long)]
        sink: Option<String>,
        /// Also re-send deliveries that succeeded.
        #[arg(long)]
        include_delivered: bool,
    },
    /// Store an SMS that Gammu SMSD received: set `RunOnReceive = salur
    /// gammu-receive` in gammu-smsdrc. Reads the message from Gammu's
    /// environment and the ids Gammu appends; storing twice stores once.
    /// Exits 0 once stored, 75 when it could not be stored (Gammu keeps the
    /// message and the run can be repeated), 64 or 65 on a usage or input
    /// error.
    GammuReceive {
        /// The channel (with `provider = "gammu"`) to store under; needed
        /// only when several are configured.
        #[arg(long)]
        channel: Option<String>,
        /// The message ids Gammu appends to the command line.
        ids: Vec<String>,
    },
    /// Point a Telegram bot in webhook mode at
    /// `<server.public_url>/webhooks/telegram/NAME`, with its
    /// `webhook_secret`; `--delete` removes the webhook.
    TelegramWebhook {
        /// The Telegram channel's name.
        name: String,
        /// Remove the webhook instead (before switching to polling).
        #[arg(long)]
        delete: bool,
    },
    /// Import a mail archive (an mbox file, a Maildir, or a folder of .eml
    /// files) through an email channel. Mail stored before (by Message-ID)
    /// is skipped, so running it twice creates nothing the second time.
    Import {
        /// The archive.
        path: std::path::PathBuf,
        /// The email channel to store under; needed only when several are
        /// configured.
        #[arg(long)]
        channel: Option<String>,
        /// Show what would be created without writing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Re-normalise complaints from their stored raw messages, after a rule
    /// or normaliser change. Changed complaints publish `complaint.updated`.
    Reprocess {
        /// Only this complaint (`cmp_…`).
        #[arg(long)]
        id: Option<String>,
        /// Show what would change without writing.
        #[arg(long)]
        dry_run: bool,
        /// Instead, read the quarantined messages again with the current
        /// adapters, and take those that now read into intake.
        #[arg(long, conflicts_with = "id")]
        quarantined: bool,
    },
}

/// Loads the configuration, starts the async runtime it asks for, and runs
/// the command line; returns the process exit code.
///
/// # Errors
/// When the runtime cannot start or the command fails.
pub fn main(cli: Cli) -> anyhow::Result<i32> {
    let settings = match load(&cli) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let c = settings.config();
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let workers = c.server.worker_threads(!c.database.is_postgres(), cores);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run_with(cli, settings))
}

/// Loads the configuration, or prints what is wrong and gives the exit code.
fn load(cli: &Cli) -> Result<Settings, i32> {
    match Settings::load(cli.config.as_deref()) {
        Ok(s) => Ok(s),
        Err(ConfigError::Invalid(errors)) => {
            eprintln!(
                "configuration has {} problem(s):\n{}",
                errors.len(),
                crate::config::report(&errors)
            );
            Err(2)
        }
        Err(e) => {
            eprintln!("configuration error: {e}");
            Err(2)
        }
    }
}

async fn run_with(cli: Cli, settings: Settings) -> anyhow::Result<i32> {
    init_logging(&settings);
    match cli.command {
        Command::Serve => {
            crate::app::serve(settings).await?;
            Ok(0)
        }
        Command::Migrate => {
            let store = crate::store::Store::open(&crate::app::store_options(&settings)).await?;
            store.migrate().await.context("migrating")?;
            store.close().await;
            println!("migrations applied ({})", store.backend());
            Ok(0)
        }
        Command::CheckConfig => {
            if let Err(errors) = crate::channels::Channels::build(&settings) {
                eprintln!(
                    "configuration has {} problem(s):\n{}",
                    errors.len(),
                    crate::config::report(&errors)
                );
                return Ok(2);
            }
            let c = settings.config();
            println!(
                "configuration OK: database {}, {} channel(s), {} sink(s), listening on {}",
                if c.database.url.starts_with("sqlite:") {
                    "sqlite"
                } else {
                    "postgres"
                },
                c.channels.len(),
                c.sinks.len(),
                c.server.listen
            );
            Ok(0)
        }
        Command::Replay {
            event,
            sink,
            include_delivered,
        } => {
            let store = crate::store::Store::open(&crate::app::store_options(&settings)).await?;
            store.migrate().await?;
            let n = store
                .write(crate::queue::dispatch::Replay {
                    event_id: event,
                    sink,
                    include_delivered,
                })
                .await?;
            store.close().await;
            println!("{n} deliveries queued again; a running `salur serve` sends them");
            Ok(0)
        }
        Command::GammuReceive { channel, ids } => gammu_receive(settings, channel, ids).await,
        Command::Import {
            path,
            channel,
            dry_run,
        } => import(settings, &path, channel, dry_run).await,
        Command::TelegramWebhook { name, delete } => {
            let app = crate::app::App::build(settings).await?;
            let done = crate::telegram::set_webhook(&app, &name, delete).await;
            app.store.close().await;
            println!("{}", done?);
            Ok(0)
        }
        Command::Reprocess {
            id,
            dry_run,
            quarantined,
        } => {
            let app = crate::app::App::build(settings).await?;
            app.store.migrate().await?;
            let (summary, checked, changed) = if quarantined {
                let s = crate::reprocess::quarantined(&app, dry_run).await;
                (s, "quarantined message(s) read again", "taken into intake")
            } else {
                let s = crate::reprocess::run(&app, id, dry_run).await;
                (s, "complaint(s) checked", "changed")
            };
            app.store.close().await;
            let summary = summary?;
            println!(
                "{} {checked}, {} {changed}{}",
                summary.checked,
                summary.changed,
                if dry_run {
                    " (dry run: nothing written)"
                } else {
                    ""
                }
            );
            Ok(0)
        }
    }
}

async fn import(
    settings: Settings,
    path: &std::path::Path,
    channel: Option<String>,
    dry_run: bool,
) -> anyhow::Result<i32> {
    let email: Vec<String> = settings
        .channels()
        .filter(|c| matches!(c.config, crate::config::ChannelConfig::Email(_)))
        .map(|c| c.config.name().to_owned())
        .collect();
    let channel = match (channel, email.as_slice()) {
        (Some(c), _) => c,
        (None, [only]) => only.clone(),
        (None, []) => {
            eprintln!("no email channel is configured: add one with kind = \"email\"");
            return Ok(EXIT_USAGE);
        }
        (None, _) => {
            eprintln!(
                "several email channels: name one with --channel ({})",
                email.join(", ")
            );
            return Ok(EXIT_USAGE);
        }
    };
    let app = crate::app::App::build(settings).await?;
    app.store.migrate().await?;
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} mail ({eta} left)")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let result = crate::email::import(&app, &channel, path, dry_run, &|done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .await;
    bar.finish_and_clear();
    app.store.close().await;
    let s = result?;
    println!(
        "{} mail read: {} created, {} added to earlier complaints, {} duplicates, {} quarantined, {} ignored (auto-replies, lists, bounces){}",
        s.read,
        s.created,
        s.appended,
        s.duplicates,
        s.quarantined,
        s.ignored,
        if dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        }
    );
    Ok(0)
}

/// `EX_USAGE`, `EX_DATAERR` and `EX_TEMPFAIL` from sysexits.h.
const EXIT_USAGE: i32 = 64;
const EXIT_DATA: i32 = 65;
const EXIT_TEMPFAIL: i32 = 75;

async fn gammu_receive(
    settings: Settings,
    channel: Option<String>,
    ids: Vec<String>,
) -> anyhow::Result<i32> {
    let gammu: Vec<String> = settings
        .channels()
        .filter_map(|c| match c.config {
            crate::config::ChannelConfig::Sms(s)
                if s.provider == crate::config::SmsProvider::Gammu =>
            {
                Some(s.name.clone())
            }
            _ => None,
        })
        .collect();
    let name = match (channel, gammu.as_slice()) {
        (Some(n), _) if gammu.contains(&n) => n,
        (Some(n), _) => {
            eprintln!("gammu-receive: no channel `{n}` with provider = \"gammu\"");
            return Ok(EXIT_USAGE);
        }
        (None, [one]) => one.clone(),
        (None, []) => {
            eprintln!("gammu-receive: no channel with provider = \"gammu\" is configured");
            return Ok(EXIT_USAGE);
        }
        (None, _) => {
            eprintln!("gammu-receive: several gammu channels; name one with --channel");
            return Ok(EXIT_USAGE);
        }
    };
    let env: Vec<(String, String)> = std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect();
    let vars =
        salur_channel_sms::gammu::gammu_vars(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let message = match salur_channel_sms::gammu::parse(&name, &vars, &ids, chrono::Utc::now()) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("gammu-receive: {e}");
            return Ok(EXIT_DATA);
        }
    };
    let stored = async {
        let app = crate::app::App::build(settings).await?;
        app.store.migrate().await?;
        let outcome = app.ingest(message).await;
        app.store.close().await;
        anyhow::Ok(outcome?)
    }
    .await;
    match stored {
        Ok(o) => {
            println!(
                "{} {}",
                if o.replay {
                    "already stored:"
                } else {
                    "stored:"
                },
                o.message_id
            );
            Ok(0)
        }
        Err(e) => {
            eprintln!("gammu-receive: the message could not be stored: {e:#}");
            Ok(EXIT_TEMPFAIL)
        }
    }
}

fn init_logging(settings: &Settings) {
    let log = &settings.config().log;
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(log.level.clone()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = if matches!(log.format, crate::config::LogFormat::Json) {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
