//! The configured channel instances, with their adapters.

use std::collections::HashMap;
use std::sync::Arc;

use salur_channel_sms::GenericSms;
use salur_channels_core::{ChannelKind, PushChannel, ReplySender};
use secrecy::ExposeSecret;

use crate::config::{ChannelConfig, FieldError, Settings, SmsProvider};

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
        for (i, ch) in settings.channels().enumerate() {
            let secret = ch.secret.map(|s| s.expose_secret().as_bytes().to_vec());
            match ch.config {
                ChannelConfig::Sms(sms) => match sms.provider {
                    SmsProvider::Generic => {
                        let adapter =
                            GenericSms::new(sms.name.clone(), secret, sms.signature_header.clone());
                        by_name.insert(
                            sms.name.clone(),
                            Arc::new(ChannelEntry {
                                name: sms.name.clone(),
                                kind: ChannelKind::Sms,
                                push: Some(Arc::new(adapter)),
                                assemble: sms.assemble,
                                sender: None,
                            }),
                        );
                    }
                    other => errors.push(FieldError::new(
                        format!("channels[{i}] ({}).provider", sms.name),
                        format!(
                            "provider `{}` is not available in this version; use `generic`",
                            other.as_str()
                        ),
                    )),
                },
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

    /// Whether each channel instance joins chat fragments into one complaint.
    pub fn assemble_flags(&self) -> HashMap<String, bool> {
        self.by_name
            .iter()
            .map(|(k, v)| (k.clone(), v.assemble))
            .collect()
    }

    /// The channels that send replies.
    pub fn reply_channels(&self) -> std::collections::HashSet<String> {
        self.senders().into_keys().collect()
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
