//! Salur: a messaging-channel ingestion gateway for public complaint handling.
pub mod config;
pub mod domain;
pub mod normalize;
pub mod queue;
