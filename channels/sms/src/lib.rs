//! SMS provider adapters.
//!
//! Each provider has its own request shape and signature; the channel's
//! `provider` setting picks the adapter. Every adapter produces
//! [`InboundMessage`](salur_channels_core::InboundMessage)s with a reporter
//! handle `sms:<number as sent>`; the service normalises the number to E.164.
//!
//! # Layout
//! - [`signature`]: HMAC checks shared by the providers.
//! - [`generic`]: Salur's own JSON format, for gateways that can post JSON.

pub mod generic;
pub mod signature;

pub use generic::GenericSms;
