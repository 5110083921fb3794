//! Configuration: layered loading, validation and resolved secrets.
//!
//! Settings come from three layers, each overriding the one before:
//! 1. the built-in defaults, `config/default.toml`, embedded in the binary;
//! 2. the TOML file given with `--config`, if any;
//! 3. `SALUR_<SECTION>__<KEY>` environment variables, e.g.
//!    `SALUR_SERVER__LISTEN=0.0.0.0:9000` or `SALUR_INTAKE__QUIET_PERIOD=5m`.
//!    Only the sections `server`, `database`, `api`, `intake`, `outbox` and
//!    `log` are read from the environment; other `SALUR_…` variables (such
//!    as `SALUR_API_TOKEN`) are left alone. `SALUR_API__TOKENS` takes a
//!    comma-separated list.
//!
//! [`Config::load`] deserializes the layers. [`Config::validate`] then checks
//! every value and resolves every secret (`env:NAME`, `file:PATH` or a
//! literal) into a [`Settings`], reporting all problems at once as
//! [`FieldError`]s. [`Settings::load`] does both, and is what
//! `salur serve` and `salur check-config` use.

mod channels;
mod duration;
mod env;
mod load;
mod secret;
mod sections;
mod settings;
mod sinks;
mod validate;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use channels::{
    ChannelConfig, EmailChannel, ImapSettings, MailTls, MetaChannel, SmsChannel, SmsProvider,
    SmtpSettings, TelegramChannel, TelegramMode,
};
pub use secret::{Environment, SecretError, SecretRef};
pub use sections::{
    ApiConfig, DatabaseConfig, IntakeConfig, LogConfig, LogFormat, OutboxConfig, ServerConfig,
    SqliteSynchronous,
};
pub use settings::{ChannelSettings, Credentials, Settings, SinkSettings};
pub use sinks::{NatsSink, SinkConfig, WebhookSink};
pub use validate::mail_address;

/// Result alias for configuration loading.
pub type Result<T, E = ConfigError> = std::result::Result<T, E>;

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file given explicitly could not be read.
    #[error("cannot read config file `{}`: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// One or more settings are wrong.
    #[error("invalid configuration:\n{}", report(.0))]
    Invalid(Vec<FieldError>),
}

/// A problem with one setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Where the setting is, e.g. `channels[0] (sms-utama).secret` or
    /// `database.url`.
    pub path: String,
    /// What is wrong with it. Never contains a secret's value.
    pub message: String,
}

impl FieldError {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// One line per error, `<path>: <message>`, as printed by
/// `salur check-config`.
pub fn report(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The whole configuration, as deserialized and before validation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The HTTP listener.
    pub server: ServerConfig,
    /// The database.
    pub database: DatabaseConfig,
    /// The JSON API.
    pub api: ApiConfig,
    /// How messages become complaints.
    pub intake: IntakeConfig,
    /// Delivery of complaint events to the sinks.
    pub outbox: OutboxConfig,
    /// Diagnostics output.
    pub log: LogConfig,
    /// Extra destinations for complaint events; the review queue is always
    /// on.
    #[serde(default)]
    pub sinks: Vec<SinkConfig>,
    /// The channel instances to receive from.
    #[serde(default)]
    pub channels: Vec<ChannelConfig>,
}

impl Config {
    /// Loads the defaults, then `path` if given, then the process
    /// environment.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Read`] when `path` can't be read (a missing file given
    /// explicitly is an error), [`ConfigError::Invalid`] with every setting
    /// that failed to deserialize.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        Self::load_with_env(path, &Environment::from_process())
    }

    /// Like [`Config::load`], reading variables from `env` instead of the
    /// process environment.
    ///
    /// # Errors
    ///
    /// As for [`Config::load`].
    pub fn load_with_env(path: Option<&Path>, env: &Environment) -> Result<Self> {
        load::load(path, env)?
            .into_config()
            .map_err(ConfigError::Invalid)
    }

    /// Checks every setting and resolves every secret, reading `env:`
    /// secrets from `env`.
    ///
    /// # Errors
    ///
    /// Every problem found, each with its path.
    pub fn validate(self, env: &Environment) -> Result<Settings, Vec<FieldError>> {
        validate::check(load::Loaded::from(self), env)
    }
}

impl From<Config> for load::Loaded {
    fn from(config: Config) -> Self {
        fn items<T>(configs: Vec<T>, name: impl Fn(&T) -> Option<String>) -> Vec<load::Item<T>> {
            configs
                .into_iter()
                .enumerate()
                .map(|(index, config)| load::Item {
                    index,
                    name: name(&config),
                    config: Some(config),
                })
                .collect()
        }
        Self {
            server: Some(config.server),
            database: Some(config.database),
            api: Some(config.api),
            intake: Some(config.intake),
            outbox: Some(config.outbox),
            log: Some(config.log),
            sinks: items(config.sinks, |s| s.name().map(str::to_owned)),
            channels: items(config.channels, |c| Some(c.name().to_owned())),
            errors: Vec::new(),
        }
    }
}
