//! `[[channels]]`: the channel instances Salur receives from, chosen by
//! `kind`. Each instance's `name` appears in its webhook URL.

use std::time::Duration;

use salur_channels_core::ChannelKind;
use serde::Deserialize;

use super::secret::SecretRef;

/// One channel instance.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ChannelConfig {
    /// SMS through one provider's gateway.
    Sms(SmsChannel),
    /// The WhatsApp Cloud API.
    Whatsapp(MetaChannel),
    /// Facebook Messenger, through a page.
    Messenger(MetaChannel),
    /// Instagram direct messages.
    Instagram(MetaChannel),
    /// A Telegram bot.
    Telegram(TelegramChannel),
    /// Email: IMAP mailboxes and pushed mail, acknowledged over SMTP.
    Email(EmailChannel),
}

/// The `kind` values [`ChannelConfig`] accepts.
pub(crate) const CHANNEL_KINDS: &[&str] = &[
    "sms",
    "whatsapp",
    "messenger",
    "instagram",
    "telegram",
    "email",
];

impl ChannelConfig {
    /// The instance name, as used in `/webhooks/<kind>/<name>`.
    pub fn name(&self) -> &str {
        match self {
            Self::Sms(c) => &c.name,
            Self::Whatsapp(c) | Self::Messenger(c) | Self::Instagram(c) => &c.name,
            Self::Telegram(c) => &c.name,
            Self::Email(c) => &c.name,
        }
    }

    /// Deserializes the fields of a channel whose `kind` is `kind` (the
    /// `kind` key itself removed). `None` for an unknown kind.
    pub(crate) fn from_kind(
        kind: &str,
        fields: &figment::value::Value,
    ) -> Option<Result<Self, Box<figment::Error>>> {
        match kind {
            "sms" => Some(fields.deserialize().map(Self::Sms).map_err(Box::new)),
            "whatsapp" => Some(fields.deserialize().map(Self::Whatsapp).map_err(Box::new)),
            "messenger" => Some(fields.deserialize().map(Self::Messenger).map_err(Box::new)),
            "instagram" => Some(fields.deserialize().map(Self::Instagram).map_err(Box::new)),
            "telegram" => Some(fields.deserialize().map(Self::Telegram).map_err(Box::new)),
            "email" => Some(fields.deserialize().map(Self::Email).map_err(Box::new)),
            _ => None,
        }
    }

    /// The channel family.
    pub fn kind(&self) -> ChannelKind {
        match self {
            Self::Sms(_) => ChannelKind::Sms,
            Self::Whatsapp(_) => ChannelKind::Whatsapp,
            Self::Messenger(_) => ChannelKind::Messenger,
            Self::Instagram(_) => ChannelKind::Instagram,
            Self::Telegram(_) => ChannelKind::Telegram,
            Self::Email(_) => ChannelKind::Email,
        }
    }

    /// The Meta settings, for WhatsApp, Messenger and Instagram.
    pub fn meta(&self) -> Option<&MetaChannel> {
        match self {
            Self::Sms(_) | Self::Telegram(_) | Self::Email(_) => None,
            Self::Whatsapp(c) | Self::Messenger(c) | Self::Instagram(c) => Some(c),
        }
    }

    /// The secret that authenticates the provider's requests, if configured.
    pub fn secret_ref(&self) -> Option<&SecretRef> {
        match self {
            Self::Sms(c) => c.secret.as_ref(),
            Self::Whatsapp(c) | Self::Messenger(c) | Self::Instagram(c) => c.app_secret.as_ref(),
            Self::Telegram(c) => c.webhook_secret.as_ref(),
            Self::Email(c) => c.push_secret.as_ref(),
        }
    }

    /// The key that holds [`ChannelConfig::secret_ref`].
    pub fn secret_key(&self) -> &'static str {
        match self {
            Self::Sms(_) => "secret",
            Self::Telegram(_) => "webhook_secret",
            Self::Email(_) => "push_secret",
            _ => "app_secret",
        }
    }

    /// Whether the channel receives through a webhook, which its secret
    /// authenticates (Gammu hands messages to `salur gammu-receive`).
    pub fn takes_webhook(&self) -> bool {
        match self {
            Self::Sms(c) => c.provider != SmsProvider::Gammu,
            Self::Telegram(c) => c.mode == TelegramMode::Webhook,
            // Mail pushed by a mail server pipe, when the operator set it up.
            Self::Email(c) => c.push_secret.is_some() || c.allow_unsigned,
            _ => true,
        }
    }

    /// Whether unsigned requests are accepted (local demos only; Meta
    /// channels always check the signature).
    pub fn allow_unsigned(&self) -> bool {
        match self {
            Self::Sms(c) => c.allow_unsigned,
            Self::Telegram(c) => c.allow_unsigned,
            Self::Email(c) => c.allow_unsigned,
            _ => false,
        }
    }
}

/// `kind = "whatsapp"`, `"messenger"` or `"instagram"`: a Meta app that
/// calls `/webhooks/whatsapp/<name>`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaChannel {
    /// Instance name, as for every channel.
    pub name: String,
    /// The app secret Meta signs each webhook with.
    #[serde(default)]
    pub app_secret: Option<SecretRef>,
    /// The token Meta's subscription handshake must present.
    #[serde(default)]
    pub verify_token: Option<SecretRef>,
    /// The Graph API access token: media downloads and replies.
    #[serde(default)]
    pub access_token: Option<SecretRef>,
    /// The Graph API base URL, when not Meta's public one.
    #[serde(default)]
    pub graph_url: Option<String>,
    /// WhatsApp: our number's id. Events for it are this instance's, and
    /// replies are sent from it.
    #[serde(default)]
    pub phone_number_id: Option<String>,
    /// Join a citizen's messages into one complaint until the quiet period
    /// passes.
    #[serde(default = "default_true")]
    pub assemble: bool,
    /// Send the acknowledgement and status notices back; needs the
    /// `access_token` (and, for WhatsApp, the `phone_number_id`).
    #[serde(default = "default_true")]
    pub replies: bool,
    /// WhatsApp: the approved template sent when more than 24 hours passed
    /// since the citizen last wrote; its body takes the tracking code as
    /// `{{1}}`.
    #[serde(default)]
    pub template: Option<String>,
    /// The template's language code.
    #[serde(default = "default_template_language")]
    pub template_language: String,
}

/// `kind = "telegram"`: a Telegram bot, polled or calling
/// `/webhooks/telegram/<name>`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramChannel {
    /// Instance name, as for every channel.
    pub name: String,
    /// The bot token from @BotFather.
    #[serde(default)]
    pub token: Option<SecretRef>,
    /// How updates arrive.
    #[serde(default)]
    pub mode: TelegramMode,
    /// Webhook mode: the secret Telegram sends back in
    /// `X-Telegram-Bot-Api-Secret-Token` (set with `salur telegram-webhook`).
    #[serde(default)]
    pub webhook_secret: Option<SecretRef>,
    /// Webhook mode without a secret. For local demos only.
    #[serde(default)]
    pub allow_unsigned: bool,
    /// The Bot API server, when not Telegram's public one (a local Bot API
    /// server, or a test fake).
    #[serde(default)]
    pub api_url: Option<String>,
    /// Take complaints from group chats the bot is in (ignored otherwise).
    #[serde(default)]
    pub allow_groups: bool,
    /// Guide the citizen: ask for the location, photos and privacy choice,
    /// then show a summary to send or cancel.
    #[serde(default = "default_true")]
    pub guided: bool,
    /// Join a citizen's messages into one complaint until the quiet period
    /// passes or they press Send.
    #[serde(default = "default_true")]
    pub assemble: bool,
    /// Send the tracking code and status notices in the chat.
    #[serde(default = "default_true")]
    pub replies: bool,
    /// Polling mode: how long one `getUpdates` call waits for updates.
    #[serde(
        default = "default_poll_timeout",
        deserialize_with = "super::duration::one"
    )]
    pub poll_timeout: Duration,
}

/// `kind = "email"`: mailboxes polled over IMAP and mail pushed to
/// `/webhooks/email/<name>`, acknowledged over SMTP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailChannel {
    /// Instance name, as for every channel.
    pub name: String,
    /// The bearer token a mail server pipe presents to
    /// `POST /webhooks/email/<name>`; without it the URL is off.
    #[serde(default)]
    pub push_secret: Option<SecretRef>,
    /// Accept pushed mail without the token. For local demos only.
    #[serde(default)]
    pub allow_unsigned: bool,
    /// The mailboxes to poll.
    #[serde(default)]
    pub imap: Option<ImapSettings>,
    /// Where acknowledgements are sent through.
    #[serde(default)]
    pub smtp: Option<SmtpSettings>,
    /// Send the acknowledgement with the tracking code, and status notices.
    #[serde(default = "default_true")]
    pub replies: bool,
    /// Our own addresses besides `smtp.from` (the mailboxes' addresses):
    /// mail from them is never answered, so two robots cannot loop.
    #[serde(default)]
    pub addresses: Vec<String>,
}

/// `[channels.imap]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapSettings {
    /// The server.
    pub host: String,
    /// Its port (993 for `tls`, 143 otherwise).
    #[serde(default)]
    pub port: Option<u16>,
    /// How the connection is protected.
    #[serde(default = "default_imap_tls")]
    pub tls: MailTls,
    /// The login.
    pub username: String,
    /// The password.
    pub password: SecretRef,
    /// The folders to take mail from.
    #[serde(default = "default_mailboxes")]
    pub mailboxes: Vec<String>,
    /// Move mail here once it is stored (never before).
    #[serde(default)]
    pub move_to: Option<String>,
    /// How often to look for mail when the server cannot IDLE.
    #[serde(
        default = "default_mail_poll",
        deserialize_with = "super::duration::one"
    )]
    pub poll_interval: Duration,
    /// A PEM file of the CA that signed the server's certificate, when it
    /// is a private one (trusted besides the public roots).
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
}

/// `[channels.smtp]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    /// The server.
    pub host: String,
    /// Its port (465 for `tls`, 587 for `starttls`, 25 for `plain`).
    #[serde(default)]
    pub port: Option<u16>,
    /// How the connection is protected.
    #[serde(default = "default_smtp_tls")]
    pub tls: MailTls,
    /// The login, when the server wants one.
    #[serde(default)]
    pub username: Option<String>,
    /// The password.
    #[serde(default)]
    pub password: Option<SecretRef>,
    /// The sender, e.g. `Layanan Pengaduan <aduan@example.go.id>`.
    pub from: String,
    /// A PEM file of the CA that signed the server's certificate, when it
    /// is a private one (trusted besides the public roots).
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
}

/// How a mail connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTls {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Tls,
    /// A plain connection upgraded with STARTTLS.
    Starttls,
    /// No encryption: only to a server on this machine.
    Plain,
}

fn default_imap_tls() -> MailTls {
    MailTls::Tls
}

fn default_smtp_tls() -> MailTls {
    MailTls::Starttls
}

fn default_mailboxes() -> Vec<String> {
    vec!["INBOX".to_owned()]
}

fn default_mail_poll() -> Duration {
    Duration::from_secs(60)
}

fn default_poll_timeout() -> Duration {
    Duration::from_secs(25)
}

/// How a Telegram bot gets its updates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TelegramMode {
    /// Long polling with `getUpdates`, by whichever instance holds the
    /// bot's lease.
    #[default]
    Polling,
    /// Telegram calls `/webhooks/telegram/<name>`.
    Webhook,
}

fn default_template_language() -> String {
    "id".to_owned()
}

/// `kind = "sms"`: an SMS gateway that calls `/webhooks/sms/<name>`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsChannel {
    /// Instance name: 1–64 characters of `a-z`, `0-9`, `-` and `_`,
    /// starting with a letter or digit.
    pub name: String,
    /// Which gateway's payload and signature format to expect.
    pub provider: SmsProvider,
    /// The provider's signing key, auth token or shared secret.
    #[serde(default)]
    pub secret: Option<SecretRef>,
    /// Accept requests without a valid signature. For local demos only.
    #[serde(default)]
    pub allow_unsigned: bool,
    /// Join messages from one number into one complaint until the quiet
    /// period passes, as with chat fragments.
    #[serde(default = "default_true")]
    pub assemble: bool,
    /// Header carrying the signature, for the `generic` provider.
    #[serde(default = "default_signature_header")]
    pub signature_header: String,
    /// Vonage: how signed webhooks are signed (`md5hash`, `md5`, `sha1`,
    /// `sha256`, `sha512`), as set in the Vonage dashboard.
    #[serde(default)]
    pub signature_method: Option<String>,
    /// `android` and signed `vonage`: how far a request's timestamp may be
    /// from our clock before it is refused as a replay (by default 5
    /// minutes for `android`, 25 hours for `vonage`, which stamps a retry
    /// with the time of the first try).
    #[serde(default, deserialize_with = "some_duration")]
    pub signature_window: Option<Duration>,
    /// Send the acknowledgement with the tracking code, and status notices,
    /// back through the provider. Needs the provider's API credentials.
    #[serde(default = "default_true")]
    pub replies: bool,
    /// The provider's API base URL for sending, when not the public one
    /// (Kannel: the `sendsms` URL; `android`: the app's or its cloud
    /// server's API).
    #[serde(default)]
    pub api_url: Option<String>,
    /// Twilio: the account SID.
    #[serde(default)]
    pub account_sid: Option<String>,
    /// Twilio, Vonage, Africa's Talking, Kannel, `android`: the number or
    /// sender id replies come from (Twilio also takes a messaging service
    /// SID, `MG…`).
    #[serde(default)]
    pub from: Option<String>,
    /// Vonage: the API key. Africa's Talking: the API key (a secret).
    #[serde(default)]
    pub api_key: Option<SecretRef>,
    /// Vonage: the API secret.
    #[serde(default)]
    pub api_secret: Option<SecretRef>,
    /// Africa's Talking: the app's username. Kannel: the `sendsms-user`.
    /// `android`: the API user.
    #[serde(default)]
    pub username: Option<String>,
    /// Kannel: the `sendsms-user`'s password. `android`: the API password.
    #[serde(default)]
    pub password: Option<SecretRef>,
    /// Kannel: the SMSC to send through, when bearerbox has several.
    #[serde(default)]
    pub smsc: Option<String>,
    /// Gammu: the program and arguments that queue an outgoing SMS, with
    /// `{to}`, `{text}` and `{len}` replaced; run without a shell.
    #[serde(default)]
    pub inject_command: Option<Vec<String>>,
}

impl SmsChannel {
    /// The settings, beside `secret`, that this channel lacks to send
    /// replies through its provider.
    pub fn missing_for_replies(&self) -> Vec<&'static str> {
        let needed: &[(&'static str, bool)] = match self.provider {
            SmsProvider::Twilio => &[
                ("account_sid", self.account_sid.is_some()),
                ("from", self.from.is_some()),
            ],
            SmsProvider::Vonage => &[
                ("api_key", self.api_key.is_some()),
                ("api_secret", self.api_secret.is_some()),
                ("from", self.from.is_some()),
            ],
            SmsProvider::Africastalking => &[
                ("username", self.username.is_some()),
                ("api_key", self.api_key.is_some()),
            ],
            SmsProvider::Kannel | SmsProvider::Android => &[
                ("username", self.username.is_some()),
                ("password", self.password.is_some()),
            ],
            SmsProvider::Gammu => &[("inject_command", self.inject_command.is_some())],
            SmsProvider::Generic | SmsProvider::Smssync => &[],
        };
        needed
            .iter()
            .filter(|(_, set)| !set)
            .map(|(key, _)| *key)
            .collect()
    }
}

fn default_true() -> bool {
    true
}

fn some_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    super::duration::one(d).map(Some)
}

fn default_signature_header() -> String {
    "X-Salur-Signature".to_owned()
}

/// An SMS gateway's wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsProvider {
    /// Salur's own JSON format, signed with HMAC-SHA256.
    Generic,
    /// Twilio Programmable Messaging.
    Twilio,
    /// Vonage (Nexmo) SMS API.
    Vonage,
    /// Africa's Talking.
    Africastalking,
    /// Kannel's `sms-service` GET or POST.
    Kannel,
    /// SMS Gateway for Android (capcom6).
    Android,
    /// SMSSync.
    Smssync,
    /// Gammu SMSD.
    Gammu,
}

impl SmsProvider {
    /// Whether Salur can send replies through this provider.
    pub fn can_send(self) -> bool {
        !matches!(self, Self::Generic | Self::Smssync)
    }

    /// The name as written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Generic => "generic",
            Self::Twilio => "twilio",
            Self::Vonage => "vonage",
            Self::Africastalking => "africastalking",
            Self::Kannel => "kannel",
            Self::Android => "android",
            Self::Smssync => "smssync",
            Self::Gammu => "gammu",
        }
    }
}

/// Why `name` is not a valid channel name, or `None` when it is.
pub(crate) fn channel_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("is empty");
    }
    if name.len() > 64 {
        return Some("is longer than 64 characters");
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) {
        return Some("must start with a lower-case letter or a digit");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        return Some("may contain only `a-z`, `0-9`, `-` and `_`");
    }
    None
}
