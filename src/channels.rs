//! The configured channel instances, with their adapters.

use std::collections::HashMap;
use std::sync::Arc;

use salur_channel_email::imap::{ImapConfig, Security};
use salur_channel_email::push::EmailPush;
use salur_channel_email::read::MailReader;
use salur_channel_email::smtp::{EmailSender, SmtpConfig, SmtpSecurity, Subjects};
use salur_channel_sms::send::{self, TwilioFrom};
use salur_channel_sms::{
    GenericSms, africastalking, android, gsm, kannel, smssync, twilio, vonage,
};
use salur_channel_telegram::api::{BotApi, TelegramMedia, TelegramSender};
use salur_channel_telegram::webhook::TelegramWebhook;
use salur_channel_whatsapp::MetaWebhook;
use salur_channel_whatsapp::graph::{DEFAULT_TIMEOUT as GRAPH_TIMEOUT, GraphApi};
use salur_channel_whatsapp::send::{PageSender, Template, WhatsappSender};
use salur_channels_core::media::MediaSource;
use salur_channels_core::{
    BoxFuture, ChannelError, ChannelKind, OutboundReply, PushChannel, ReplySender, SentReceipt,
};
use secrecy::{ExposeSecret, SecretString};

use crate::config::{
    ChannelConfig, Credentials, EmailChannel, FieldError, MailTls, MetaChannel, Settings,
    SmsChannel, SmsProvider, TelegramChannel, TelegramMode, mail_address,
};

/// How long a Bot API call may take (long polls add their own wait).
const TELEGRAM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// One channel instance.
pub struct ChannelEntry {
    /// Instance name.
    pub name: String,
    /// Channel family.
    pub kind: ChannelKind,
    /// The webhook adapter; `None` for a channel that takes no webhook
    /// (Gammu hands messages to `salur gammu-receive`).
    pub push: Option<Arc<dyn PushChannel>>,
    /// Whether chat fragments join one complaint.
    pub assemble: bool,
    /// Sends replies back through the provider, when the channel does.
    pub sender: Option<Arc<dyn ReplySender>>,
    /// The Meta webhook (WhatsApp, Messenger, Instagram).
    pub meta: Option<Arc<MetaWebhook>>,
    /// WhatsApp: our number's id, which picks this instance for an event.
    pub account: Option<String>,
    /// What media are downloaded with (Meta channels with an
    /// `access_token`, Telegram bots).
    pub media: Option<Arc<dyn MediaSource>>,
    /// A Telegram bot's API client and how it gets updates.
    pub telegram: Option<Arc<TelegramBot>>,
    /// Whether the citizen is guided through the complaint (Telegram).
    pub guided: bool,
    /// An email channel's reader and mailboxes.
    pub mail: Option<Arc<MailSetup>>,
}

impl ChannelEntry {
    /// An instance with its webhook, joining and sender; no provider
    /// extras (Meta webhook, media source, bot, mailboxes), not guided.
    fn new(
        name: &str,
        kind: ChannelKind,
        push: Option<Arc<dyn PushChannel>>,
        assemble: bool,
        sender: Option<Arc<dyn ReplySender>>,
    ) -> Self {
        Self {
            name: name.to_owned(),
            kind,
            push,
            assemble,
            sender,
            meta: None,
            account: None,
            media: None,
            telegram: None,
            guided: false,
            mail: None,
        }
    }
}

/// An email channel, as its IMAP pollers and `salur import` use it.
pub struct MailSetup {
    /// Reads raw mail.
    pub reader: MailReader,
    /// The server and login, when mailboxes are polled.
    pub imap: Option<ImapConfig>,
    /// The folders polled.
    pub mailboxes: Vec<String>,
    /// Where stored mail is moved, when set.
    pub move_to: Option<String>,
    /// How long one wait for mail lasts (IDLE, or a poll without it).
    pub poll_interval: std::time::Duration,
}

/// A Telegram bot, as its poller and `salur telegram-webhook` use it.
pub struct TelegramBot {
    /// The Bot API client.
    pub api: BotApi,
    /// Reads updates, from the webhook or from `getUpdates`.
    pub parser: Arc<TelegramWebhook>,
    /// How updates arrive.
    pub mode: TelegramMode,
    /// How long one `getUpdates` call waits.
    pub poll_timeout: std::time::Duration,
    /// The secret `setWebhook` is given, in webhook mode.
    pub webhook_secret: Option<String>,
}

/// Every configured channel, by name.
#[derive(Default)]
pub struct Channels {
    by_name: HashMap<String, Arc<ChannelEntry>>,
}

impl Channels {
    /// Builds an adapter for every configured channel.
    ///
    /// # Errors
    /// One [`FieldError`] per channel this build cannot serve.
    pub fn build(settings: &Settings) -> Result<Self, Vec<FieldError>> {
        let mut by_name = HashMap::new();
        let mut errors = Vec::new();
        let mut client = None;
        for (i, ch) in settings.channels().enumerate() {
            match ch.config {
                ChannelConfig::Sms(sms) => {
                    let label = format!("channels[{i}] ({})", sms.name);
                    let push = match sms_push(sms, ch.secret) {
                        Ok(push) => push,
                        Err(e) => {
                            errors.push(FieldError::new(format!("{label}.provider"), e));
                            continue;
                        }
                    };
                    let sender = if sms.replies && sms.provider.can_send() {
                        let built = shared_client(&mut client).and_then(|c| {
                            sms_sender(sms, ch.secret, ch.credentials, c).map_err(|e| e.to_string())
                        });
                        match built {
                            Ok(s) => Some(Arc::new(Numbered(s)) as Arc<dyn ReplySender>),
                            Err(e) => {
                                errors.push(FieldError::new(label, e));
                                continue;
                            }
                        }
                    } else {
                        None
                    };
                    by_name.insert(
                        sms.name.clone(),
                        Arc::new(ChannelEntry::new(
                            &sms.name,
                            ChannelKind::Sms,
                            push,
                            sms.assemble,
                            sender,
                        )),
                    );
                }
                ChannelConfig::Email(mail) => {
                    let label = format!("channels[{i}] ({})", mail.name);
                    match email_entry(
                        mail,
                        ch.secret,
                        ch.credentials,
                        &settings.config().intake.reply_language,
                    ) {
                        Ok(entry) => {
                            by_name.insert(mail.name.clone(), Arc::new(entry));
                        }
                        Err(e) => errors.push(FieldError::new(label, e)),
                    }
                }
                ChannelConfig::Telegram(bot) => {
                    let label = format!("channels[{i}] ({})", bot.name);
                    match telegram_entry(bot, ch.secret, ch.credentials) {
                        Ok(entry) => {
                            by_name.insert(bot.name.clone(), Arc::new(entry));
                        }
                        Err(e) => errors.push(FieldError::new(label, e)),
                    }
                }
                ChannelConfig::Whatsapp(meta)
                | ChannelConfig::Messenger(meta)
                | ChannelConfig::Instagram(meta) => {
                    let label = format!("channels[{i}] ({})", meta.name);
                    match meta_entry(ch.config.kind(), meta, ch.secret, ch.credentials) {
                        Ok(entry) => {
                            by_name.insert(meta.name.clone(), Arc::new(entry));
                        }
                        Err(e) => errors.push(FieldError::new(label, e)),
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(Self { by_name })
        } else {
            Err(errors)
        }
    }

    /// The channel called `name`, when it is of `kind`.
    pub fn get(&self, kind: ChannelKind, name: &str) -> Option<&Arc<ChannelEntry>> {
        self.by_name.get(name).filter(|c| c.kind == kind)
    }

    /// The Meta channel called `name` (WhatsApp, Messenger or Instagram:
    /// they share `/webhooks/whatsapp/{name}`).
    pub fn meta(&self, name: &str) -> Option<&Arc<ChannelEntry>> {
        self.by_name.get(name).filter(|c| c.meta.is_some())
    }

    /// The WhatsApp instance whose number is `account`, when one is
    /// configured: one app may deliver every number's events to one URL.
    pub fn by_account(&self, account: &str) -> Option<&Arc<ChannelEntry>> {
        self.by_name
            .values()
            .find(|c| c.kind == ChannelKind::Whatsapp && c.account.as_deref() == Some(account))
    }

    /// Whether each channel instance joins chat fragments into one complaint.
    pub fn assemble_flags(&self) -> HashMap<String, bool> {
        self.by_name
            .iter()
            .map(|(k, v)| (k.clone(), v.assemble))
            .collect()
    }

    /// The channels that guide their citizens through a complaint.
    pub fn guided_channels(&self) -> std::collections::HashSet<String> {
        self.by_name
            .iter()
            .filter(|(_, v)| v.guided)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// The Telegram bots, by channel name.
    pub fn telegram_bots(&self) -> Vec<(String, Arc<TelegramBot>)> {
        self.by_name
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.telegram.clone()?)))
            .collect()
    }

    /// The email channels, by name.
    pub fn mail_channels(&self) -> Vec<(String, Arc<MailSetup>)> {
        self.by_name
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.mail.clone()?)))
            .collect()
    }

    /// The channels that send replies.
    pub fn reply_channels(&self) -> std::collections::HashSet<String> {
        self.senders().into_keys().collect()
    }

    /// What media are downloaded with, by channel name.
    pub fn media_sources(&self) -> HashMap<String, Arc<dyn MediaSource>> {
        self.by_name
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.media.clone()?)))
            .collect()
    }

    /// The reply senders, by channel name.
    pub fn senders(&self) -> HashMap<String, Arc<dyn ReplySender>> {
        self.by_name
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.sender.clone()?)))
            .collect()
    }

    /// Number of channels.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether no channel is configured.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

/// A Meta channel's webhook and, for WhatsApp with replies, its sender.
fn meta_entry(
    kind: ChannelKind,
    meta: &MetaChannel,
    secret: Option<&SecretString>,
    credentials: &Credentials,
) -> Result<ChannelEntry, String> {
    let expose = |s: Option<&SecretString>| s.map(|s| s.expose_secret().to_owned());
    let webhook = MetaWebhook::new(
        kind,
        meta.name.clone(),
        expose(secret).unwrap_or_default().into_bytes(),
        expose(credentials.verify_token.as_ref()).unwrap_or_default(),
    )
    .map_err(|e| e.to_string())?;
    let api = match &credentials.access_token {
        Some(token) => Some(GraphApi::new(
            meta.graph_url.as_deref(),
            token.expose_secret().to_owned(),
            GRAPH_TIMEOUT,
        )?),
        None => None,
    };
    let sender = match (&meta.phone_number_id, &api) {
        (Some(number), Some(api)) if meta.replies && kind == ChannelKind::Whatsapp => {
            let api = api.clone();
            let template = meta.template.as_ref().map(|name| Template {
                name: name.clone(),
                language: meta.template_language.clone(),
            });
            Some(Arc::new(WhatsappSender::new(api, number.clone(), template))
                as Arc<dyn ReplySender>)
        }
        (_, Some(api)) if meta.replies && kind != ChannelKind::Whatsapp => {
            Some(Arc::new(PageSender::new(api.clone(), kind)) as Arc<dyn ReplySender>)
        }
        _ => None,
    };
    Ok(ChannelEntry {
        meta: Some(Arc::new(webhook)),
        account: meta.phone_number_id.clone(),
        media: api.map(|a| Arc::new(a) as Arc<dyn MediaSource>),
        ..ChannelEntry::new(&meta.name, kind, None, meta.assemble, sender)
    })
}

/// The certificates of `[channels.<section>] ca_file`, when set.
fn ca_file(path: Option<&std::path::Path>, section: &str) -> Result<Vec<Vec<u8>>, String> {
    let Some(path) = path else {
        return Ok(Vec::new());
    };
    let pem = std::fs::read(path)
        .map_err(|e| format!("{section}.ca_file: cannot read {}: {e}", path.display()))?;
    salur_channel_email::pem_certificates(&pem)
        .map_err(|e| format!("{section}.ca_file {}: {e}", path.display()))
}

/// How long an IMAP or SMTP exchange may take.
const MAIL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// An email channel's adapters: the reader (behind the push webhook when a
/// `push_secret` is set, and for the IMAP pollers), and the SMTP sender.
fn email_entry(
    mail: &EmailChannel,
    secret: Option<&SecretString>,
    credentials: &Credentials,
    language: &str,
) -> Result<ChannelEntry, String> {
    let from = mail.smtp.as_ref().and_then(|s| mail_address(&s.from));
    let mut own: Vec<String> = mail
        .addresses
        .iter()
        .map(String::as_str)
        .chain(from)
        .chain(
            mail.imap
                .as_ref()
                .map(|i| i.username.as_str())
                .filter(|u| u.contains('@')),
        )
        .map(str::to_lowercase)
        .collect();
    own.sort();
    own.dedup();
    let domains: Vec<String> = from
        .and_then(|f| f.rsplit_once('@'))
        .map(|(_, d)| d.to_lowercase())
        .into_iter()
        .collect();
    let reader = || MailReader::new(mail.name.clone(), own.clone(), domains.clone());
    let imap_ca = ca_file(
        mail.imap.as_ref().and_then(|i| i.ca_file.as_deref()),
        "imap",
    )?;
    let smtp_ca = ca_file(
        mail.smtp.as_ref().and_then(|s| s.ca_file.as_deref()),
        "smtp",
    )?;
    let push = (secret.is_some() || mail.allow_unsigned).then(|| {
        let key = secret.map(|s| s.expose_secret().as_bytes().to_vec());
        Arc::new(EmailPush::new(reader(), key)) as Arc<dyn PushChannel>
    });
    let sender = match (&mail.smtp, mail.replies) {
        (Some(smtp), true) => {
            let texts = crate::replies::ReplyTexts::builtin(language)?.email;
            let config = SmtpConfig {
                host: smtp.host.clone(),
                port: smtp.port.unwrap_or(match smtp.tls {
                    MailTls::Tls => 465,
                    MailTls::Starttls => 587,
                    MailTls::Plain => 25,
                }),
                security: match smtp.tls {
                    MailTls::Tls => SmtpSecurity::Tls,
                    MailTls::Starttls => SmtpSecurity::StartTls,
                    MailTls::Plain => SmtpSecurity::Plain,
                },
                username: smtp.username.clone(),
                password: credentials
                    .smtp_password
                    .as_ref()
                    .map(|p| p.expose_secret().to_owned()),
                from: smtp.from.clone(),
                timeout: MAIL_TIMEOUT,
                ca_certificates: smtp_ca.clone(),
            };
            let subjects = Subjects {
                acknowledgement: texts.acknowledgement_subject,
                status_notice: texts.status_subject,
                other: texts.other_subject,
            };
            let sender = EmailSender::new(config, subjects).map_err(|e| e.to_string())?;
            Some(Arc::new(sender) as Arc<dyn ReplySender>)
        }
        _ => None,
    };
    let imap = mail.imap.as_ref().map(|i| ImapConfig {
        host: i.host.clone(),
        port: i
            .port
            .unwrap_or(if i.tls == MailTls::Tls { 993 } else { 143 }),
        security: match i.tls {
            MailTls::Tls => Security::Tls,
            MailTls::Starttls => Security::StartTls,
            MailTls::Plain => Security::Plain,
        },
        username: i.username.clone(),
        password: credentials
            .imap_password
            .as_ref()
            .map(|p| p.expose_secret().to_owned())
            .unwrap_or_default(),
        timeout: MAIL_TIMEOUT,
        ca_certificates: imap_ca.clone(),
    });
    Ok(ChannelEntry {
        mail: Some(Arc::new(MailSetup {
            reader: reader(),
            imap,
            mailboxes: mail
                .imap
                .as_ref()
                .map(|i| i.mailboxes.clone())
                .unwrap_or_default(),
            move_to: mail.imap.as_ref().and_then(|i| i.move_to.clone()),
            poll_interval: mail
                .imap
                .as_ref()
                .map_or(std::time::Duration::from_secs(60), |i| i.poll_interval),
        })),
        ..ChannelEntry::new(&mail.name, ChannelKind::Email, push, false, sender)
    })
}

/// A Telegram bot's adapters: the update reader (behind the webhook in
/// webhook mode), the sender and the media source.
fn telegram_entry(
    bot: &TelegramChannel,
    secret: Option<&SecretString>,
    credentials: &Credentials,
) -> Result<ChannelEntry, String> {
    let token = credentials
        .token
        .as_ref()
        .map(|t| t.expose_secret().to_owned())
        .ok_or("no bot token")?;
    let api =
        BotApi::new(token, bot.api_url.as_deref(), TELEGRAM_TIMEOUT).map_err(|e| e.to_string())?;
    let webhook_secret = secret.map(|s| s.expose_secret().to_owned());
    let parser = Arc::new(TelegramWebhook::new(
        bot.name.clone(),
        webhook_secret.clone().map(String::into_bytes),
        bot.allow_groups,
    ));
    let push = (bot.mode == TelegramMode::Webhook).then(|| parser.clone() as Arc<dyn PushChannel>);
    let sender = bot
        .replies
        .then(|| Arc::new(TelegramSender::new(api.clone())) as Arc<dyn ReplySender>);
    Ok(ChannelEntry {
        media: Some(Arc::new(TelegramMedia::new(api.clone()))),
        telegram: Some(Arc::new(TelegramBot {
            api,
            parser,
            mode: bot.mode,
            poll_timeout: bot.poll_timeout,
            webhook_secret,
        })),
        guided: bot.guided,
        ..ChannelEntry::new(&bot.name, ChannelKind::Telegram, push, bot.assemble, sender)
    })
}

/// The HTTP client every sender shares, made when the first needs it.
fn shared_client(slot: &mut Option<reqwest::Client>) -> Result<reqwest::Client, String> {
    if let Some(c) = slot {
        return Ok(c.clone());
    }
    let c = send::http_client(send::DEFAULT_TIMEOUT).map_err(|e| e.to_string())?;
    Ok(slot.insert(c).clone())
}

/// The webhook adapter of an SMS channel; `None` for Gammu, which hands
/// messages to `salur gammu-receive` instead.
fn sms_push(
    sms: &SmsChannel,
    secret: Option<&SecretString>,
) -> Result<Option<Arc<dyn PushChannel>>, String> {
    let name = sms.name.clone();
    let key = secret.map(|s| s.expose_secret().as_bytes().to_vec());
    Ok(Some(match sms.provider {
        SmsProvider::Generic => Arc::new(GenericSms::new(name, key, sms.signature_header.clone())),
        SmsProvider::Twilio => Arc::new(twilio::TwilioSms::new(name, key)),
        SmsProvider::Vonage => {
            let method = match &sms.signature_method {
                Some(m) => m
                    .parse::<vonage::SignatureMethod>()
                    .map_err(|e| e.to_string())?,
                None => vonage::SignatureMethod::default(),
            };
            let window = sms.signature_window.unwrap_or(vonage::DEFAULT_MAX_SKEW);
            Arc::new(vonage::VonageSms::new(name, key, method, window))
        }
        SmsProvider::Africastalking => Arc::new(africastalking::AfricasTalkingSms::new(name, key)),
        SmsProvider::Kannel => Arc::new(kannel::KannelSms::new(name, key)),
        SmsProvider::Android => {
            let window = sms.signature_window.unwrap_or(android::DEFAULT_MAX_SKEW);
            Arc::new(android::AndroidSms::new(name, key, window))
        }
        SmsProvider::Smssync => Arc::new(smssync::SmsSync::new(name, key)),
        SmsProvider::Gammu => return Ok(None),
    }))
}

/// The reply sender of an SMS channel whose provider can send.
fn sms_sender(
    sms: &SmsChannel,
    secret: Option<&SecretString>,
    credentials: &Credentials,
    client: reqwest::Client,
) -> Result<Arc<dyn ReplySender>, ChannelError> {
    let expose =
        |s: Option<&SecretString>| s.map(|s| s.expose_secret().to_owned()).unwrap_or_default();
    let api_url = sms.api_url.as_deref();
    let from = sms.from.clone();
    Ok(match sms.provider {
        SmsProvider::Twilio => {
            let from = from.unwrap_or_default();
            let from = if from.starts_with("MG") {
                TwilioFrom::MessagingService(from)
            } else {
                TwilioFrom::Number(from)
            };
            Arc::new(send::TwilioSender::new(
                client,
                api_url,
                sms.account_sid.clone().unwrap_or_default(),
                expose(secret),
                from,
            )?)
        }
        SmsProvider::Vonage => Arc::new(send::VonageSender::new(
            client,
            api_url,
            expose(credentials.api_key.as_ref()),
            expose(credentials.api_secret.as_ref()),
            from.unwrap_or_default(),
        )?),
        SmsProvider::Africastalking => Arc::new(send::AfricasTalkingSender::new(
            client,
            api_url,
            sms.username.clone().unwrap_or_default(),
            expose(credentials.api_key.as_ref()),
            from,
        )?),
        SmsProvider::Kannel => Arc::new(send::KannelSender::new(
            client,
            api_url,
            sms.username.clone().unwrap_or_default(),
            expose(credentials.password.as_ref()),
            from,
            sms.smsc.clone(),
        )?),
        SmsProvider::Android => Arc::new(send::AndroidSender::new(
            client,
            api_url,
            sms.username.clone().unwrap_or_default(),
            expose(credentials.password.as_ref()),
        )?),
        SmsProvider::Gammu => Arc::new(send::GammuSender::new(
            sms.inject_command.clone().unwrap_or_default(),
        )),
        SmsProvider::Generic | SmsProvider::Smssync => {
            return Err(ChannelError::Permanent(format!(
                "provider `{}` cannot send replies",
                sms.provider.as_str()
            )));
        }
    })
}

/// Sends a text that does not fit one SMS as numbered parts, `(1/3) …`,
/// each a single SMS, so every phone and gateway shows them in order; a
/// text that fits goes out as it is.
struct Numbered(Arc<dyn ReplySender>);

impl ReplySender for Numbered {
    fn send<'a>(
        &'a self,
        reply: &'a OutboundReply,
    ) -> BoxFuture<'a, salur_channels_core::Result<SentReceipt>> {
        Box::pin(async move {
            if gsm::segments(&reply.text) <= 1 {
                return self.0.send(reply).await;
            }
            let mut ids = Vec::new();
            for part in gsm::split_numbered(&reply.text) {
                let one = OutboundReply {
                    text: part,
                    ..reply.clone()
                };
                ids.extend(self.0.send(&one).await?.provider_message_id);
            }
            Ok(SentReceipt {
                provider_message_id: (!ids.is_empty()).then(|| ids.join(",")),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use salur_channels_core::ReplyKind;

    use super::*;

    /// Records what it is asked to send.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl ReplySender for Recorder {
        fn send<'a>(
            &'a self,
            reply: &'a OutboundReply,
        ) -> BoxFuture<'a, salur_channels_core::Result<SentReceipt>> {
            Box::pin(async move {
                let mut sent = self
                    .0
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                sent.push(reply.text.clone());
                Ok(SentReceipt {
                    provider_message_id: Some(format!("id{}", sent.len())),
                })
            })
        }
    }

    fn reply(text: &str) -> OutboundReply {
        OutboundReply {
            channel_name: "sms".into(),
            to: "sms:+6281234567890".into(),
            text: text.into(),
            in_reply_to: None,
            tracking_code: Some("SLR-7K3Q-9XPA".into()),
            kind: ReplyKind::StatusNotice,
            last_inbound_at: None,
            window_closed: false,
            presentation: Default::default(),
        }
    }

    #[tokio::test]
    async fn a_long_notice_goes_out_as_numbered_single_sms() {
        let inner = Arc::new(Recorder::default());
        let numbered = Numbered(inner.clone());
        let long = "Aduan SLR-7K3Q-9XPA sudah diteruskan ke Dinas Pekerjaan Umum dan Penataan Ruang. \
                    Petugas akan memeriksa lokasi jalan berlubang di depan SDN 3 Sukamaju dalam tujuh \
                    hari kerja. Terima kasih telah melapor melalui SP4N-LAPOR!.";
        let receipt = numbered.send(&reply(long)).await.expect("sent");
        let sent = inner.0.lock().expect("lock").clone();
        assert!(sent.len() >= 2, "{sent:?}");
        for (i, part) in sent.iter().enumerate() {
            assert!(
                part.starts_with(&format!("({}/{}) ", i + 1, sent.len())),
                "{part}"
            );
            assert_eq!(gsm::segments(part), 1, "{part}");
        }
        assert_eq!(receipt.provider_message_id.as_deref(), Some("id1,id2"));

        let short = "Aduan Anda sudah kami terima dengan kode SLR-7K3Q-9XPA.";
        numbered.send(&reply(short)).await.expect("sent");
        assert_eq!(
            inner.0.lock().expect("lock").last().map(String::as_str),
            Some(short)
        );
    }

    #[test]
    fn a_mail_server_ca_file_must_hold_a_certificate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let not_pem = dir.path().join("ca.pem");
        std::fs::write(&not_pem, "this is not a certificate").expect("write");
        let toml = format!(
            "[[channels]]\nname = \"mail-aduan\"\nkind = \"email\"\nreplies = false\n\
             [channels.imap]\nhost = \"imap.example-kab.go.id\"\nusername = \"aduan\"\n\
             password = \"env:P\"\nca_file = \"{}\"\n",
            not_pem.display()
        );
        let path = dir.path().join("salur.toml");
        std::fs::write(&path, toml).expect("write");
        let env: crate::config::Environment = [("P", "rahasia")].into_iter().collect();
        let settings = Settings::load_with_env(Some(&path), &env).expect("valid settings");
        let Err(errors) = Channels::build(&settings) else {
            panic!("a CA file without a certificate is refused");
        };
        let text = crate::config::report(&errors);
        assert!(
            text.contains("imap.ca_file") && text.contains("no certificate"),
            "{text}"
        );
        std::fs::remove_file(&not_pem).expect("remove");
        let Err(errors) = Channels::build(&settings) else {
            panic!("a missing CA file is refused");
        };
        assert!(crate::config::report(&errors).contains("cannot read"));
    }
}
