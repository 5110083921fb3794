//! The outbox and its delivery.
//!
//! - [`outbox`]: events written in the same transaction as the complaint.
//! - [`dispatch`]: claims due deliveries and sends them, with retries.
//! - [`sink`]: what a sink is; [`nats`] (JetStream) and [`webhook`]
//!   (Standard Webhooks) are the two kinds. The review queue needs no sink:
//!   it is the complaints table, read through the API.

pub mod dispatch;
pub mod lazy;
pub mod nats;
pub mod outbox;
pub mod sink;
pub mod webhook;
