//! SMS provider adapters.
//!
//! Each provider has its own request shape and signature; the channel's
//! `provider` setting picks the adapter. Every adapter produces
//! [`InboundMessage`](salur_channels_core::InboundMessage)s with a reporter
//! handle `sms:<number as sent>`; the service normalises the number to E.164.
//!
//! # Layout
//! - [`signature`]: signature and secret checks shared by the providers,
//!   all in constant time; `form` (byte-level form and query decoding) and
//!   `intake` (required fields, timestamps, the shape of an SMS message)
//!   are the other shared pieces.
//! - Receiving, one module per provider: [`generic`] (Salur's own JSON),
//!   [`twilio`], [`vonage`], [`africastalking`], [`kannel`], [`android`]
//!   (the capcom6 SMS Gateway app) and [`smssync`].
//! - [`gammu`]: the environment Gammu SMSD gives its `RunOnReceive` program.
//! - [`send`]: sending replies through each provider's API.
//! - [`gsm`]: GSM-7 segment counting and splitting of long notices.

pub mod africastalking;
pub mod android;
mod form;
pub mod gammu;
pub mod generic;
pub mod gsm;
mod intake;
pub mod kannel;
pub mod send;
pub use salur_channels_core::signature;
pub mod smssync;
pub mod twilio;
pub mod vonage;

pub use generic::GenericSms;
