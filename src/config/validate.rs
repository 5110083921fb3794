//! Validation: every rule a loaded configuration must meet, and secret
//! resolution. All problems are collected, none stops the others.

use std::collections::HashMap;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use salur_channels_core::ChannelKind;

use super::channels::{
    ChannelConfig, EmailChannel, MailTls, MetaChannel, SmsChannel, TelegramChannel, TelegramMode,
    channel_name_problem,
};
use super::load::{Item, Loaded, item_label};
use super::secret::{Environment, SecretRef};
use super::sections::{
    ApiConfig, DatabaseConfig, IntakeConfig, LogConfig, OutboxConfig, ServerConfig,
};
use super::settings::{ChannelSecrets, Credentials};
use super::sinks::{NatsSink, SinkConfig, WebhookSink};
use super::{FieldError, Settings};

/// Checks what loaded, adding to the loading errors, and builds the
/// [`Settings`] when nothing is wrong.
pub(crate) fn check(mut loaded: Loaded, env: &Environment) -> Result<Settings, Vec<FieldError>> {
    let mut cx = Checker {
        env,
        errors: std::mem::take(&mut loaded.errors),
    };
    if let Some(server) = &loaded.server {
        cx.server(server);
    }
    if let Some(database) = &loaded.database {
        cx.database(database);
    }
    let api_tokens = loaded.api.as_ref().map(|api| cx.api(api));
    if let Some(intake) = &loaded.intake {
        cx.intake(intake);
    }
    if let Some(outbox) = &loaded.outbox {
        cx.outbox(outbox);
    }
    if let Some(log) = &loaded.log {
        cx.log(log);
    }
    let sink_secrets: Vec<_> = loaded.sinks.iter().map(|s| cx.sink(s)).collect();
    cx.channel_names(&loaded.channels);
    let public_url = loaded.server.as_ref().and_then(|s| s.public_url.as_ref());
    if public_url.is_none() {
        cx.twilio_needs_public_url(&loaded.channels);
    }
    let channel_secrets: Vec<_> = loaded.channels.iter().map(|c| cx.channel(c)).collect();

    if !cx.errors.is_empty() {
        return Err(cx.errors);
    }
    let api_tokens = api_tokens.unwrap_or_default();
    let sink_secrets = sink_secrets.into_iter().flatten().collect();
    let channel_secrets = channel_secrets.into_iter().flatten().collect();
    let config = loaded.into_config()?;
    Ok(Settings::new(
        config,
        api_tokens,
        channel_secrets,
        sink_secrets,
    ))
}

struct Checker<'a> {
    env: &'a Environment,
    errors: Vec<FieldError>,
}

impl Checker<'_> {
    fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(path, message));
    }

    /// Resolves `secret`, recording an error at `path` when it can't be.
    fn secret(&mut self, path: &str, secret: &SecretRef) -> Option<SecretString> {
        match secret.resolve(self.env) {
            Ok(value) => Some(value),
            Err(e) => {
                self.error(path, e.to_string());
                None
            }
        }
    }

    fn at_least(&mut self, path: &str, value: Duration, min: Duration) {
        if value < min {
            let min = humantime::format_duration(min);
            self.error(path, format!("must be at least {min}"));
        }
    }

    fn positive(&mut self, path: &str, value: u64) {
        if value == 0 {
            self.error(path, "must be at least 1");
        }
    }

    fn server(&mut self, server: &ServerConfig) {
        if let Some(url) = &server.public_url
            && let Err(why) = http_url(url)
        {
            self.error(
                "server.public_url",
                format!("{why}; expected an absolute URL such as https://aduan.example.go.id"),
            );
        }
        self.positive("server.body_limit", server.body_limit as u64);
        self.positive("server.mail_body_limit", server.mail_body_limit as u64);
        self.at_least(
            "server.request_timeout",
            server.request_timeout,
            Duration::from_secs(1),
        );
    }

    fn database(&mut self, database: &DatabaseConfig) {
        // The URL may hold a password, so messages never repeat it.
        if database.url.starts_with("sqlite:") {
            if database.sqlite_path().is_none() {
                self.error(
                    "database.url",
                    "SQLite URL has no file path, e.g. sqlite://salur-data/salur.db",
                );
            }
        } else if database.is_postgres() {
            match reqwest::Url::parse(&database.url) {
                Ok(url) if url.has_host() => {}
                _ => self.error(
                    "database.url",
                    "not a valid PostgreSQL URL; expected postgres://user@host/db",
                ),
            }
        } else {
            self.error(
                "database.url",
                "unsupported database; use sqlite://path/to/file.db or postgres://user@host/db",
            );
        }
        self.positive(
            "database.max_connections",
            u64::from(database.max_connections),
        );
        self.positive("database.write_batch_max", database.write_batch_max as u64);
    }

    fn api(&mut self, api: &ApiConfig) -> Vec<SecretString> {
        let mut tokens = Vec::with_capacity(api.tokens.len());
        for (i, token) in api.tokens.iter().enumerate() {
            if let Some(token) = self.secret(&format!("api.tokens[{i}]"), token) {
                tokens.push(token);
            }
        }
        tokens
    }

    fn intake(&mut self, intake: &IntakeConfig) {
        self.at_least(
            "intake.quiet_period",
            intake.quiet_period,
            Duration::from_secs(1),
        );
        if intake
            .default_region
            .parse::<phonenumber::country::Id>()
            .is_err()
        {
            self.error(
                "intake.default_region",
                format!(
                    "`{}` is not a known region code; expected an ISO 3166 alpha-2 code such as `ID`",
                    intake.default_region
                ),
            );
        }
        self.at_least(
            "intake.seal_interval",
            intake.seal_interval,
            Duration::from_millis(100),
        );
        self.at_least(
            "intake.part_timeout",
            intake.part_timeout,
            Duration::from_secs(1),
        );
        if let Err(why) = crate::replies::ReplyTexts::builtin(&intake.reply_language) {
            self.error("intake.reply_language", format!("{why}; use `id` or `en`"));
        }
        if intake.reply_limit == 0 {
            self.error(
                "intake.reply_limit",
                "must be at least 1; set `replies = false` on a channel to send nothing",
            );
        }
        self.positive("intake.media_max_bytes", intake.media_max_bytes);
    }

    fn outbox(&mut self, outbox: &OutboxConfig) {
        if outbox.retry_schedule.is_empty() {
            self.error(
                "outbox.retry_schedule",
                "must list at least one delay, e.g. [\"5s\", \"1m\"]",
            );
        }
        self.at_least(
            "outbox.poll_interval",
            outbox.poll_interval,
            Duration::from_millis(10),
        );
        self.positive("outbox.batch_size", outbox.batch_size as u64);
        self.at_least("outbox.lease", outbox.lease, Duration::from_secs(1));
    }

    fn log(&mut self, log: &LogConfig) {
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&log.level) {
            self.error("log.level", format!("not a valid log filter: {e}"));
        }
    }

    fn sink(&mut self, item: &Item<SinkConfig>) -> Option<Option<SecretString>> {
        let label = item_label("sinks", item.index, item.name.as_deref());
        if let Some(name) = &item.name
            && let Some(why) = channel_name_problem(name)
        {
            self.error(format!("{label}.name"), format!("`{name}` {why}"));
        }
        let sink = item.config.as_ref()?;
        let secret = match sink {
            SinkConfig::Nats(nats) => self.nats(&label, nats),
            SinkConfig::Webhook(webhook) => self.webhook(&label, webhook),
        };
        Some(secret)
    }

    fn nats(&mut self, label: &str, nats: &NatsSink) -> Option<SecretString> {
        match reqwest::Url::parse(&nats.url) {
            Ok(url) if matches!(url.scheme(), "nats" | "tls") && url.has_host() => {}
            _ => self.error(
                format!("{label}.url"),
                "expected nats://host:4222 or tls://host:4222",
            ),
        }
        if nats.stream.is_empty()
            || nats
                .stream
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || ".*>/\\".contains(c))
        {
            self.error(
                format!("{label}.stream"),
                "a stream name must be non-empty, without spaces, `.`, `*`, `>`, `/` or `\\`",
            );
        }
        let prefix_ok = nats.subject_prefix.split('.').all(|token| {
            !token.is_empty()
                && !token
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '*' || c == '>')
        });
        if !prefix_ok {
            self.error(
                format!("{label}.subject_prefix"),
                "a subject prefix is dot-separated tokens without spaces or wildcards, \
                 e.g. salur.complaints",
            );
        }
        let credentials = nats.credentials.as_ref()?;
        self.secret(&format!("{label}.credentials"), credentials)
    }

    fn webhook(&mut self, label: &str, webhook: &WebhookSink) -> Option<SecretString> {
        if let Err(why) = http_url(&webhook.url) {
            self.error(
                format!("{label}.url"),
                format!("{why}; expected http(s)://…"),
            );
        }
        self.at_least(
            &format!("{label}.timeout"),
            webhook.timeout,
            Duration::from_millis(100),
        );
        self.secret(&format!("{label}.secret"), &webhook.secret)
    }

    /// Channel names must be valid and unique, whether or not the rest of
    /// the channel loaded.
    fn channel_names(&mut self, channels: &[Item<ChannelConfig>]) {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for item in channels {
            let label = item_label("channels", item.index, item.name.as_deref());
            let Some(name) = item.name.as_deref() else {
                // A missing name is reported by deserialization.
                continue;
            };
            if let Some(why) = channel_name_problem(name) {
                self.error(
                    format!("{label}.name"),
                    format!("`{name}` {why}; use 1-64 characters of a-z, 0-9, `-` and `_`"),
                );
                continue;
            }
            if let Some(first) = seen.get(name) {
                self.error(
                    format!("{label}.name"),
                    format!("duplicate channel name; already used by channels[{first}]"),
                );
            } else {
                seen.insert(name, item.index);
            }
        }
    }

    fn channel(&mut self, item: &Item<ChannelConfig>) -> Option<ChannelSecrets> {
        let label = item_label("channels", item.index, item.name.as_deref());
        let channel = item.config.as_ref()?;
        let credentials = match channel {
            ChannelConfig::Sms(sms) => {
                if axum::http::HeaderName::from_bytes(sms.signature_header.as_bytes()).is_err() {
                    self.error(
                        format!("{label}.signature_header"),
                        "not a valid HTTP header name",
                    );
                }
                self.sms(&label, sms)
            }
            ChannelConfig::Whatsapp(meta)
            | ChannelConfig::Messenger(meta)
            | ChannelConfig::Instagram(meta) => self.meta(&label, channel.kind(), meta),
            ChannelConfig::Telegram(bot) => self.telegram(&label, bot),
            ChannelConfig::Email(mail) => self.email(&label, mail),
        };
        let key = channel.secret_key();
        let secret = match channel.secret_ref() {
            Some(secret) => self.secret(&format!("{label}.{key}"), secret).filter(|s| {
                let empty = s.expose_secret().is_empty();
                if empty {
                    self.error(format!("{label}.{key}"), "is empty");
                }
                !empty
            }),
            None if channel.allow_unsigned() || !channel.takes_webhook() => None,
            None if channel.meta().is_some() => {
                self.error(
                    format!("{label}.{key}"),
                    "no app secret: Meta signs every webhook with it",
                );
                None
            }
            None => {
                self.error(
                    format!("{label}.{key}"),
                    format!(
                        "no secret: set `{key}`, or `allow_unsigned = true` for a local demo only"
                    ),
                );
                None
            }
        };
        Some(ChannelSecrets {
            secret,
            credentials,
        })
    }

    /// Twilio signs the URL it calls, which a proxy in front of Salur
    /// rewrites: the URL must come from the configuration.
    fn twilio_needs_public_url(&mut self, channels: &[Item<ChannelConfig>]) {
        for item in channels {
            if let Some(ChannelConfig::Sms(sms)) = &item.config
                && sms.provider == super::SmsProvider::Twilio
                && !sms.allow_unsigned
            {
                let label = item_label("channels", item.index, item.name.as_deref());
                self.error(
                    format!("{label}.provider"),
                    "Twilio signs the URL it calls: set server.public_url to the address Twilio uses",
                );
            }
        }
    }

    /// Provider settings of an SMS channel; returns its resolved API
    /// credentials.
    fn sms(&mut self, label: &str, sms: &SmsChannel) -> Credentials {
        let resolve = |cx: &mut Self, key: &str, r: &Option<SecretRef>| {
            r.as_ref()
                .and_then(|r| cx.secret(&format!("{label}.{key}"), r))
        };
        let credentials = Credentials {
            api_key: resolve(self, "api_key", &sms.api_key),
            api_secret: resolve(self, "api_secret", &sms.api_secret),
            password: resolve(self, "password", &sms.password),
            ..Credentials::default()
        };
        if let Some(method) = &sms.signature_method
            && let Err(e) = method.parse::<salur_channel_sms::vonage::SignatureMethod>()
        {
            self.error(format!("{label}.signature_method"), e.to_string());
        }
        if let Some(window) = sms.signature_window {
            self.at_least(
                &format!("{label}.signature_window"),
                window,
                Duration::from_secs(1),
            );
        }
        if let Some(url) = &sms.api_url
            && let Err(why) = http_url(url)
        {
            self.error(format!("{label}.api_url"), why);
        }
        if sms
            .inject_command
            .as_ref()
            .is_some_and(|c| c.first().is_none_or(|p| p.trim().is_empty()))
        {
            self.error(
                format!("{label}.inject_command"),
                "must name a program, e.g. [\"gammu-smsd-inject\", \"TEXT\", \"{to}\", \"-text\", \"{text}\"]",
            );
        }
        if sms.replies {
            for key in sms.missing_for_replies() {
                self.error(
                    format!("{label}.{key}"),
                    format!(
                        "needed to send replies through `{}`; set it, or `replies = false`",
                        sms.provider.as_str()
                    ),
                );
            }
        }
        credentials
    }
}

impl Checker<'_> {
    /// The settings of a WhatsApp, Messenger or Instagram channel; returns
    /// its resolved tokens.
    fn meta(&mut self, label: &str, kind: ChannelKind, meta: &MetaChannel) -> Credentials {
        let token = |cx: &mut Self, key: &str, r: &Option<SecretRef>| {
            let value = r
                .as_ref()
                .and_then(|r| cx.secret(&format!("{label}.{key}"), r))?;
            if value.expose_secret().is_empty() {
                cx.error(format!("{label}.{key}"), "is empty");
                return None;
            }
            Some(value)
        };
        let credentials = Credentials {
            access_token: token(self, "access_token", &meta.access_token),
            verify_token: token(self, "verify_token", &meta.verify_token),
            ..Credentials::default()
        };
        if meta.verify_token.is_none() {
            self.error(
                format!("{label}.verify_token"),
                "needed: Meta's subscription handshake presents it",
            );
        }
        if let Some(url) = &meta.graph_url
            && let Err(why) = http_url(url)
        {
            self.error(format!("{label}.graph_url"), why);
        }
        if let Some(id) = &meta.phone_number_id
            && (id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()))
        {
            self.error(
                format!("{label}.phone_number_id"),
                "must be the number's id from WhatsApp Manager (digits)",
            );
        }
        if kind != ChannelKind::Whatsapp && meta.phone_number_id.is_some() {
            self.error(
                format!("{label}.phone_number_id"),
                "only WhatsApp channels have a phone number id",
            );
        }
        if meta.replies {
            let whatsapp = kind == ChannelKind::Whatsapp;
            for (key, set) in [
                ("access_token", meta.access_token.is_some()),
                (
                    "phone_number_id",
                    !whatsapp || meta.phone_number_id.is_some(),
                ),
            ] {
                if !set {
                    self.error(
                        format!("{label}.{key}"),
                        format!(
                            "needed to send replies through {kind}; set it, or `replies = false`"
                        ),
                    );
                }
            }
        }
        credentials
    }
}

impl Checker<'_> {
    /// The settings of a Telegram bot; returns its resolved token.
    fn telegram(&mut self, label: &str, bot: &TelegramChannel) -> Credentials {
        let token = match &bot.token {
            Some(r) => self.secret(&format!("{label}.token"), r).filter(|t| {
                let t = t.expose_secret();
                // `<bot id>:<secret>`, as @BotFather gives it.
                let shaped = t.split_once(':').is_some_and(|(id, rest)| {
                    !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && !rest.is_empty()
                });
                if !shaped {
                    self.error(
                        format!("{label}.token"),
                        "not a bot token: @BotFather gives `<digits>:<letters>`",
                    );
                }
                shaped
            }),
            None => {
                self.error(
                    format!("{label}.token"),
                    "needed: the bot token from @BotFather",
                );
                None
            }
        };
        if let Some(url) = &bot.api_url
            && let Err(why) = http_url(url)
        {
            self.error(format!("{label}.api_url"), why);
        }
        if bot.guided && !bot.replies {
            self.error(
                format!("{label}.guided"),
                "the guided dialogue talks to the citizen: it needs `replies = true`",
            );
        }
        if bot.guided && !bot.assemble {
            self.error(
                format!("{label}.guided"),
                "the guided dialogue builds one complaint from several messages: it needs `assemble = true`",
            );
        }
        if bot.mode == TelegramMode::Polling && bot.webhook_secret.is_some() {
            self.error(
                format!("{label}.webhook_secret"),
                "only used with `mode = \"webhook\"`",
            );
        }
        self.at_least(
            &format!("{label}.poll_timeout"),
            bot.poll_timeout,
            Duration::from_secs(1),
        );
        if bot.poll_timeout > Duration::from_secs(50) {
            self.error(
                format!("{label}.poll_timeout"),
                "at most 50s: proxies cut longer requests",
            );
        }
        Credentials {
            token,
            ..Credentials::default()
        }
    }
}

impl Checker<'_> {
    /// The settings of an email channel; returns its resolved passwords.
    fn email(&mut self, label: &str, mail: &EmailChannel) -> Credentials {
        let mut credentials = Credentials::default();
        if mail.imap.is_none() && mail.push_secret.is_none() && !mail.allow_unsigned {
            self.error(
                format!("{label}.imap"),
                "no intake: set [channels.imap] to poll mailboxes, or `push_secret` for a mail server pipe",
            );
        }
        if let Some(imap) = &mail.imap {
            credentials.imap_password =
                self.secret(&format!("{label}.imap.password"), &imap.password);
            if imap.mailboxes.is_empty() || imap.mailboxes.iter().any(|m| m.trim().is_empty()) {
                self.error(
                    format!("{label}.imap.mailboxes"),
                    "name at least one folder, e.g. [\"INBOX\"]",
                );
            }
            if imap
                .move_to
                .as_ref()
                .is_some_and(|m| imap.mailboxes.contains(m))
            {
                self.error(
                    format!("{label}.imap.move_to"),
                    "must not be one of the polled mailboxes",
                );
            }
            self.mail_host(&format!("{label}.imap"), &imap.host, imap.tls);
            self.at_least(
                &format!("{label}.imap.poll_interval"),
                imap.poll_interval,
                Duration::from_secs(1),
            );
        }
        match &mail.smtp {
            Some(smtp) => {
                credentials.smtp_password = smtp
                    .password
                    .as_ref()
                    .and_then(|p| self.secret(&format!("{label}.smtp.password"), p));
                if mail_address(&smtp.from).is_none() {
                    self.error(
                        format!("{label}.smtp.from"),
                        "not an address: write `aduan@example.go.id` or `Layanan Pengaduan <aduan@example.go.id>`",
                    );
                }
                self.mail_host(&format!("{label}.smtp"), &smtp.host, smtp.tls);
            }
            None if mail.replies => self.error(
                format!("{label}.smtp"),
                "needed to send acknowledgements; set [channels.smtp], or `replies = false`",
            ),
            None => {}
        }
        credentials
    }

    /// A plain connection carries the password in clear: only to this machine.
    fn mail_host(&mut self, label: &str, host: &str, tls: MailTls) {
        if host.trim().is_empty() {
            self.error(format!("{label}.host"), "is empty");
        }
        let local = matches!(host, "127.0.0.1" | "::1" | "localhost");
        if tls == MailTls::Plain && !local {
            self.error(
                format!("{label}.tls"),
                "`plain` sends the password in clear: only to a server on this machine (127.0.0.1)",
            );
        }
    }
}

/// The address in `Name <addr@host>` or `addr@host`.
pub fn mail_address(from: &str) -> Option<&str> {
    let addr = match (from.rfind('<'), from.rfind('>')) {
        (Some(open), Some(close)) if open < close => &from[open + 1..close],
        _ => from,
    }
    .trim();
    let (local, domain) = addr.split_once('@')?;
    (!local.is_empty() && domain.contains('.') && !addr.contains(char::is_whitespace))
        .then_some(addr)
}

/// Checks that `url` is an absolute `http` or `https` URL with a host.
fn http_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a valid URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("scheme `{}` is not http or https", parsed.scheme()));
    }
    if !parsed.has_host() {
        return Err("URL has no host".to_owned());
    }
    Ok(())
}
