//! The validated configuration, with every secret resolved.

use std::path::Path;

use secrecy::SecretString;

use super::channels::ChannelConfig;
use super::secret::Environment;
use super::sinks::SinkConfig;
use super::{Config, ConfigError, Result, load, validate};

/// A configuration that passed validation, holding its resolved secrets.
///
/// `Debug` prints secrets as `[REDACTED]`.
#[derive(Debug, Clone)]
pub struct Settings {
    config: Config,
    api_tokens: Vec<SecretString>,
    /// One per `config.channels` entry, in order.
    channel_secrets: Vec<ChannelSecrets>,
    /// One per `config.sinks` entry, in order.
    sink_secrets: Vec<Option<SecretString>>,
}

/// A channel's configuration with its resolved secret.
#[derive(Debug, Clone, Copy)]
pub struct ChannelSettings<'a> {
    /// The channel as configured.
    pub config: &'a ChannelConfig,
    /// The resolved `secret`; `None` only when the channel has none and
    /// `allow_unsigned = true`.
    pub secret: Option<&'a SecretString>,
    /// The resolved API credentials for sending replies.
    pub credentials: &'a Credentials,
}

/// A channel's resolved secrets.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChannelSecrets {
    pub secret: Option<SecretString>,
    pub credentials: Credentials,
}

/// The API credentials a channel sends replies with, resolved; each is
/// `None` when not configured.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// `api_key`.
    pub api_key: Option<SecretString>,
    /// `api_secret`.
    pub api_secret: Option<SecretString>,
    /// `password`.
    pub password: Option<SecretString>,
    /// Meta: `access_token`.
    pub access_token: Option<SecretString>,
    /// Meta: `verify_token`.
    pub verify_token: Option<SecretString>,
    /// Telegram: the bot `token`.
    pub token: Option<SecretString>,
    /// Email: `imap.password`.
    pub imap_password: Option<SecretString>,
    /// Email: `smtp.password`.
    pub smtp_password: Option<SecretString>,
}

/// A sink's configuration with its resolved secret.
#[derive(Debug, Clone, Copy)]
pub struct SinkSettings<'a> {
    /// The sink as configured.
    pub config: &'a SinkConfig,
    /// The webhook signing secret (always set for webhooks), or the NATS
    /// credentials when configured.
    pub secret: Option<&'a SecretString>,
}

impl Settings {
    /// Loads every layer (reading the process environment), validates the
    /// result and resolves its secrets.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Read`] when `path` can't be read, and
    /// [`ConfigError::Invalid`] with every problem found, both while
    /// deserializing and while validating.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        Self::load_with_env(path, &Environment::from_process())
    }

    /// Like [`Settings::load`], reading variables and `env:` secrets from
    /// `env`.
    ///
    /// # Errors
    ///
    /// As for [`Settings::load`].
    pub fn load_with_env(path: Option<&Path>, env: &Environment) -> Result<Self> {
        let loaded = load::load(path, env)?;
        validate::check(loaded, env).map_err(ConfigError::Invalid)
    }

    pub(crate) fn new(
        config: Config,
        api_tokens: Vec<SecretString>,
        channel_secrets: Vec<ChannelSecrets>,
        sink_secrets: Vec<Option<SecretString>>,
    ) -> Self {
        Self {
            config,
            api_tokens,
            channel_secrets,
            sink_secrets,
        }
    }

    /// The configuration as loaded.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The bearer tokens `/api/v1` accepts.
    pub fn api_tokens(&self) -> &[SecretString] {
        &self.api_tokens
    }

    /// Every channel instance, in configuration order.
    pub fn channels(&self) -> impl Iterator<Item = ChannelSettings<'_>> {
        self.config
            .channels
            .iter()
            .zip(&self.channel_secrets)
            .map(|(config, secrets)| ChannelSettings {
                config,
                secret: secrets.secret.as_ref(),
                credentials: &secrets.credentials,
            })
    }

    /// The channel instance called `name`.
    pub fn channel(&self, name: &str) -> Option<ChannelSettings<'_>> {
        self.channels().find(|c| c.config.name() == name)
    }

    /// Every extra sink, in configuration order.
    pub fn sinks(&self) -> impl Iterator<Item = SinkSettings<'_>> {
        self.config
            .sinks
            .iter()
            .zip(&self.sink_secrets)
            .map(|(config, secret)| SinkSettings {
                config,
                secret: secret.as_ref(),
            })
    }
}
