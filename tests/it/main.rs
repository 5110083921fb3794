//! The integration-test binary: the real app against real servers.

mod bad_input;
mod cli;
mod concurrency;
mod crash;
mod dovecot;
mod email;
mod gammu;
mod kannel;
mod kannel_rig;
mod kannel_rig_check;
mod operations;
mod outbox;
mod sms_parts;
mod smtp_sink;
mod story;
mod support;
mod telegram;
mod telegram_fake;
mod whatsapp;
