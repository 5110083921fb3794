//! Email for Salur: reading RFC 5322 mail into [`salur_channels_core::InboundMessage`]s
//! (forwards, replies, bounces, auto-replies), fetching it over IMAP, and
//! sending acknowledgements over SMTP.

pub mod imap;
pub mod push;
pub mod read;
pub mod smtp;
