//! Salur: a messaging-channel ingestion gateway for public complaint handling.
//!
//! Citizens complain by WhatsApp, Telegram, SMS and email. Salur receives
//! every channel, turns each complaint into one standard record, finds
//! duplicates, gives the citizen a tracking code and publishes the record to
//! a queue for admins and downstream systems.
//!
//! # Layout
//!
//! In the order data flows through them:
//! - [`config`]: layered settings (defaults, `salur.toml`, `SALUR_…`).
//! - [`web`]: the HTTP surface; [`web::webhooks`] receives provider calls.
//! - [`channels`]: the configured channel instances and their adapters
//!   (the adapters live in the `channels/*` crates).
//! - [`intake`]: the atomic claim of a message and its complaint.
//! - [`normalize`] and [`domain`]: text, phone, email, ids, tracking codes.
//! - [`assemble`]: chat fragments sealed into one complaint.
//! - [`dedupe`]: same reporter, same content.
//! - [`store`]: SQLite and PostgreSQL behind one interface.
//! - [`queue`]: the outbox and its dispatcher to NATS JetStream and webhooks.
//! - [`replies`]: acknowledgements back to the citizen through their channel.
//! - [`record`]: the complaint record and event as the world sees them.
//! - [`metrics`], [`app`] and [`cli`]: running it.

pub mod app;
pub mod assemble;
pub mod channels;
pub mod cli;
pub mod config;
pub mod dedupe;
pub mod domain;
pub mod email;
pub mod guided;
pub mod intake;
pub mod lease;
pub mod media;
pub mod metrics;
pub mod normalize;
pub mod queue;
pub mod record;
pub mod replies;
pub mod reprocess;
pub mod store;
pub mod telegram;
pub mod web;
