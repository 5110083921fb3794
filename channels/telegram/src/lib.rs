//! Telegram: a bot that citizens write to, through webhooks or long polling.
//!
//! This crate is a protocol adapter. It turns one Bot API `Update` into what
//! the intake stores, and a reply into Bot API calls. It keeps no state and
//! knows nothing of dialogues: a bot command, a button tap or a shared
//! contact comes out as a [`salur_channels_core::Control`] for the service
//! to act on.
//!
//! # Layout
//!
//! In the order data flows:
//!
//! - [`webhook`]: [`TelegramWebhook`], the push side. Checks the
//!   `X-Telegram-Bot-Api-Secret-Token` header in constant time, then hands
//!   the body to [`update`].
//! - [`api`]: [`BotApi`], the calls Salur makes: `getUpdates` for the poll
//!   side (each update's JSON kept byte for byte), `setWebhook` and
//!   `deleteWebhook`; with [`TelegramSender`] for replies (buttons, edits,
//!   tap answers) and [`TelegramMedia`] for the files messages refer to.
//! - [`update`]: one update's raw JSON → an [`salur_channels_core::InboundMessage`],
//!   or the reason it is left out. Both sides end here.
//!
//! Deserialisation and requests go through [`teloxide`] (re-exported, so
//! callers use the same version); `getUpdates` and file downloads go through
//! `reqwest` directly, because teloxide re-serialises updates and buffers
//! whole files.

pub mod api;
pub mod update;
pub mod webhook;

pub use api::{ApiError, BotApi, RawUpdate, TelegramMedia, TelegramSender};
pub use teloxide;
pub use update::{Parsed, parse_update, update_id};
pub use webhook::TelegramWebhook;
